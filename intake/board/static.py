"""The board's only assets, served by the intake itself: one stylesheet (light and dark from prefers-color-scheme)
and one small script for live updates (server-sent events). Nothing is fetched from anywhere else.

THEMES holds the colours; the stylesheet is built from them, and tests/board/ computes their contrast.
"""

from __future__ import annotations

THEMES: dict[str, dict[str, str]] = {
    "light": {"bg": "#ffffff", "card": "#f3f4f6", "fg": "#111827", "muted": "#4b5563", "link": "#1d4ed8",
              "border": "#9ca3af", "ok": "#166534", "bad": "#b91c1c", "warn": "#92400e", "now": "#dbeafe",
              "add": "#dcfce7", "del": "#fee2e2"},
    "dark": {"bg": "#0f172a", "card": "#1e293b", "fg": "#f1f5f9", "muted": "#cbd5e1", "link": "#93c5fd",
             "border": "#64748b", "ok": "#86efac", "bad": "#fca5a5", "warn": "#fcd34d", "now": "#1e3a8a",
             "add": "#14532d", "del": "#7f1d1d"},
}
# (foreground, background) pairs that carry text; each must reach WCAG AA (4.5:1) in both themes.
TEXT_PAIRS = [("fg", "bg"), ("fg", "card"), ("muted", "bg"), ("muted", "card"), ("link", "bg"), ("link", "card"),
              ("ok", "card"), ("bad", "card"), ("warn", "card"), ("ok", "bg"), ("bad", "bg"), ("warn", "bg"),
              ("fg", "now"), ("fg", "add"), ("fg", "del")]


def _vars(theme: dict[str, str]) -> str:
    return "".join(f"--{k}:{v};" for k, v in theme.items())


CSS = f"""
:root{{{_vars(THEMES["light"])}color-scheme:light dark}}
@media (prefers-color-scheme: dark){{:root{{{_vars(THEMES["dark"])}}}}}
*{{box-sizing:border-box}}
body{{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}}
a{{color:var(--link)}}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible,
summary:focus-visible{{outline:3px solid var(--link);outline-offset:2px}}
.vh{{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}}
.skip{{position:absolute;left:-999px}}.skip:focus{{left:8px;top:8px;background:var(--bg);padding:4px}}
header{{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;padding:.5rem 1rem;
  border-bottom:1px solid var(--border)}}
header nav a{{margin-right:1rem}}
header .who{{margin-left:auto;color:var(--muted)}}
main{{padding:1rem;max-width:80rem;margin:0 auto}}
h1{{font-size:1.5rem;margin:.5rem 0}}h2{{font-size:1.2rem;margin:1.5rem 0 .5rem}}
.card{{background:var(--card);border:1px solid var(--border);border-radius:6px;padding:.75rem;margin:.5rem 0}}
.muted{{color:var(--muted)}}.ok{{color:var(--ok)}}.bad{{color:var(--bad)}}.warn{{color:var(--warn)}}
.table-wrap{{overflow-x:auto}}
table{{border-collapse:collapse;width:100%}}
th,td{{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--border);vertical-align:top}}
form.inline{{display:inline}}
label{{display:inline-block;margin:.25rem .75rem .25rem 0}}
input,select,textarea,button{{font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--border);
  border-radius:4px;padding:.3rem .5rem;min-height:2.25rem}}
button{{cursor:pointer;background:var(--card)}}
textarea{{width:100%;min-height:10rem}}
ol.steps{{display:flex;flex-wrap:wrap;gap:.25rem;list-style:none;padding:0;margin:.5rem 0}}
ol.steps li{{padding:.25rem .6rem;border:1px solid var(--border);border-radius:999px}}
ol.steps li.done{{color:var(--ok)}}ol.steps li.now{{background:var(--now);font-weight:bold}}
pre{{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--bg);padding:.5rem;border:1px solid var(--border)}}
pre.diff ins{{background:var(--add);text-decoration:none;display:block}}
pre.diff del{{background:var(--del);text-decoration:none;display:block}}pre.diff .line{{display:block}}
.flash{{border-left:4px solid var(--link)}}
dl.card{{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}}dl.card dd{{margin:0}}
svg.chart{{max-width:100%;height:auto}}
svg.chart text{{fill:var(--fg);font-size:12px}}svg.chart .bar{{fill:var(--link)}}
svg.chart .axis{{stroke:var(--border)}}
.charts{{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr));gap:1rem}}
@media (max-width:40rem){{main{{padding:.5rem}}th,td{{padding:.25rem}}}}
"""

JS = """
(function () {
  var src = document.body.getAttribute('data-events');
  if (!src || !window.EventSource) { return; }
  var status = document.getElementById('live-status');
  var events = new EventSource(src);
  events.addEventListener('open', function () { if (status) { status.textContent = 'live'; } });
  events.addEventListener('change', function () {
    fetch(location.href, {credentials: 'same-origin', headers: {'X-Board-Live': '1'}}).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (text) {
      if (!text) { return; }
      var fresh = new DOMParser().parseFromString(text, 'text/html');
      document.querySelectorAll('[data-live]').forEach(function (el) {
        var active = document.activeElement;
        if (active && active !== document.body && el.contains(active)) { return; }  // someone is typing here
        if (el.querySelector('details[open]')) { return; }  // an opened form (edit, resolve) stays as it is
        var next = fresh.getElementById(el.id);
        if (next && next.innerHTML !== el.innerHTML) { el.innerHTML = next.innerHTML; }
      });
      if (status) { status.textContent = 'live, updated ' + new Date().toLocaleTimeString(); }
    });
  });
})();
"""
