"""Reports as pictures: `firebreak report`'s figures (playbook/figures.py) drawn as SVG bar charts, overall, per
week and per service. The numbers come from `figures` itself, for each group of retrospective records; nothing is
computed twice. Colours come from the page's stylesheet, so the charts follow the light and dark themes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from intake.board.layout import esc
from playbook.figures import figures

BAR_HEIGHT, GAP, LABEL_WIDTH, WIDTH = 22, 6, 170, 560


def bar_chart(title: str, values: dict[str, float | None], unit: str) -> str:
    """A horizontal bar chart with a title and a text alternative; bars without a value say 'none'."""
    rows = list(values.items())
    height = 30 + len(rows) * (BAR_HEIGHT + GAP) + 10
    top = max((v for _, v in rows if v is not None), default=0.0) or 1.0
    span = WIDTH - LABEL_WIDTH - 70
    described = "; ".join(f"{k}: {'none' if v is None else f'{v:g} {unit}'}" for k, v in rows) or "no data"
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
             f'aria-labelledby="{_id(title)}-t {_id(title)}-d" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{_id(title)}-t">{esc(title)}</title><desc id="{_id(title)}-d">{esc(described)}</desc>',
             f'<text x="0" y="16" font-weight="bold">{esc(title)}</text>',
             f'<line class="axis" x1="{LABEL_WIDTH}" y1="24" x2="{LABEL_WIDTH}" y2="{height - 6}"/>']
    for i, (label, value) in enumerate(rows):
        y = 30 + i * (BAR_HEIGHT + GAP)
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{esc(label[:26])}</text>')
        if value is None:
            parts.append(f'<text x="{LABEL_WIDTH + 6}" y="{y + 15}">none</text>')
            continue
        w = max(2.0, span * value / top)
        parts.append(f'<rect class="bar" x="{LABEL_WIDTH}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}"/>'
                     f'<text x="{LABEL_WIDTH + w + 6:.1f}" y="{y + 15}">{value:g} {esc(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _id(title: str) -> str:
    return "c-" + "".join(c if c.isalnum() else "-" for c in title.lower())


def _week(record: dict[str, Any]) -> str:
    year, week, _ = datetime.fromisoformat(record["impact"]["detected_at"]).isocalendar()
    return f"{year}-W{week:02d}"


def grouped(records: list[dict[str, Any]], on_time_minutes: float) -> dict[str, dict[str, dict[str, Any]]]:
    """`figures` for each ISO week the incidents were detected in, and for each service they touched."""
    weeks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    services: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        weeks[_week(r)].append(r)
        for service in r.get("services") or ["-"]:
            services[service].append(r)
    return {"week": {k: figures(v, on_time_minutes) for k, v in sorted(weeks.items())},
            "service": {k: figures(v, on_time_minutes) for k, v in sorted(services.items())}}


def _share(result: dict[str, Any]) -> float | None:
    share = result["cadence"]["on_time_share"]
    return None if share is None else round(100 * share, 1)


def charts(records: list[dict[str, Any]], on_time_minutes: float = 15.0) -> tuple[dict[str, Any], list[str]]:
    """(the overall figures, the SVG charts): MTTA, MTTR, time per step, cadence adherence per week and service."""
    overall = figures(records, on_time_minutes)
    groups = grouped(records, on_time_minutes)
    svgs = [bar_chart("Median minutes per step", {s: v["median"] for s, v in overall["minutes_per_step"].items()},
                      "min")]
    for by, label in (("week", "per week"), ("service", "per service")):
        g = groups[by]
        svgs += [bar_chart(f"MTTA {label} (median)", {k: v["minutes_to_acknowledge"]["median"] for k, v in g.items()},
                           "min"),
                 bar_chart(f"MTTR {label} (median)", {k: v["minutes_to_resolve"]["median"] for k, v in g.items()},
                           "min"),
                 bar_chart(f"Briefs on time {label}", {k: _share(v) for k, v in g.items()}, "%")]
    return overall, svgs
