"""Reports from the artefacts: `firebreak risks` (the risk register) and `firebreak report` (figures)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from integrations.readback import read_each, retrospective_record
from integrations.store import open_store
from playbook.figures import bar_chart, figures
from playbook.models import SignalKind
from playbook.render import table
from playbook.risk import RISK_REGISTER, RiskEntry


def cmd_risks(args: argparse.Namespace) -> int:
    store = open_store()
    register = [p for p in store.list_files(RISK_REGISTER) if p.count("/") == 1 and p.endswith(".json")]
    entries, problems = read_each(store, register, RiskEntry.model_validate_json)
    print("\n".join(f"firebreak: {p}" for p in problems), file=sys.stderr, end="\n" if problems else "")
    entries = [e for e in entries if (not args.kind or e.kind.value == args.kind)
               and (not args.owasp or args.owasp in e.owasp_llm) and (not args.service or args.service in e.services)]
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
    elif not entries:
        print(f"the risk register is empty ({store.location(RISK_REGISTER)})")
    else:
        print(table(["INCIDENT", "SEV", "KIND", "SERVICES", "FAILURE MODE", "HARM", "OWASP", "NIST AI 600-1",
                     "ROOT CAUSE"],
                    [[e.incident, e.severity.value, e.kind.value, ",".join(e.services), e.failure_mode,
                      e.harm_severity, ",".join(e.owasp_llm), "; ".join(e.nist_ai_600_1),
                      (e.root_cause or "(review pending)")[:50]] for e in entries]))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    store = open_store()
    paths = [p for p in store.list_files() if p.count("/") == 1 and p.endswith("/retrospective.json")]
    records, problems = read_each(store, paths, retrospective_record)
    print("\n".join(f"firebreak: {p}" for p in problems), file=sys.stderr, end="\n" if problems else "")
    if not records:
        print(f"no resolved incidents in {store.location()} yet")
        return 0
    result = figures(records, on_time_minutes=args.on_time_minutes)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0

    def line(name: str, s: dict[str, Any]) -> list[str]:
        return [name, str(s["n"]), *("-" if s[k] is None else f"{s[k]:g}" for k in ("median", "p90", "max"))]

    rows = [line("time to acknowledge", result["minutes_to_acknowledge"]),
            line("time to resolve", result["minutes_to_resolve"]),
            *(line(f"  {step}", s) for step, s in result["minutes_per_step"].items()),
            line("approval latency", result["approval_minutes"])]
    cadence = result["cadence"]
    share = "-" if cadence["on_time_share"] is None else f"{100 * cadence['on_time_share']:.0f}%"
    print(f"{result['incidents']} incident(s) with a retrospective record (minutes)\n")
    print(table(["FIGURE", "N", "MEDIAN", "P90", "MAX"], rows))
    print(f"\ncadence: {cadence['briefs_sent']} of {cadence['briefs_due']} briefs sent, {cadence['sent_on_time']} "
          f"within {cadence['on_time_minutes']:g} min of due ({share} on time)")
    print("\ntime to resolve by incident (minutes)\n" + bar_chart(result["resolve_by_incident"]))
    return 0


def register(subs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """risks, report"""
    risks = subs.add_parser("risks", help="the risk register: one entry per resolved incident (from the store)")
    risks.add_argument("--kind", choices=[k.value for k in SignalKind])
    risks.add_argument("--owasp", metavar="LLM0N", help="only entries with this OWASP LLM Top 10 id")
    risks.add_argument("--service")
    risks.add_argument("--json", action="store_true")
    risks.set_defaults(run=cmd_risks)
    report = subs.add_parser("report", help="figures across incidents: acknowledge/resolve times, time per step, "
                             "cadence adherence, approval latency")
    report.add_argument("--on-time-minutes", type=float, default=15.0,
                        help="a brief sent within this many minutes of falling due counts as on time (default 15)")
    report.add_argument("--json", action="store_true")
    report.set_defaults(run=cmd_report)
