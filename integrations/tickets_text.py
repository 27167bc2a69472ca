"""The ticket's text as Markdown: the local ticket's file and the GitHub issue's body."""

from __future__ import annotations

from playbook.messages import TicketInput


def ticket_markdown(request: TicketInput) -> str:
    d = request.detection
    metrics = "\n".join(f"| {k} | {v:g} |" for k, v in sorted(d.metrics.items())) or "| (none reported) | |"
    links = "\n".join(f"- {link}" for link in d.links) or "- (none)"
    return f"""# {request.number}: {d.kind.value} on {', '.join(d.services)}

| field | value |
|---|---|
| severity | {request.severity.value} |
| signal | {d.kind.value} ({d.kind.family}) |
| affected services | {', '.join(d.services)} |
| model | {d.model or '-'} |
| prompt | {d.prompt_name or '-'}{f' v{d.prompt_version}' if d.prompt_version is not None else ''} |
| last deploy | {d.deploy_id or 'unknown'} |
| detected at | {d.detected_at.isoformat()} |
| source | {d.source} |
| workflow | {request.workflow_id} |

{d.summary}

## Guardrail metrics

| metric | value |
|---|---|
{metrics}

## Links

{links}

## Updates

"""
