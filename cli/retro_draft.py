"""`firebreak retro INC --draft`: a draft retrospective from an OpenAI-compatible endpoint ([ai_draft] in the
playbook), grounded only in the incident's redacted timeline, evidence summaries and the briefs sent. Shown and
saved as <artefacts>/<INC>/retrospective-draft.json for the incident commander to edit and record with
`firebreak retro INC --file ...`; never recorded by itself."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from cli.common import CliError, _client, _handle, _playbook, _state
from integrations.store import open_store, read_text
from playbook.ai_draft import RETRO_PROMPT, DraftUnusable, material, parse_retro_draft


async def cmd_retro_draft(args: argparse.Namespace) -> int:
    # Imported here: the openai and langfuse SDKs cost every other `firebreak` command half a second to load.
    from integrations.ai_draft import AiDraftError, ask
    from integrations.langfuse.prompts import managed_prompt

    cfg = _playbook(args).ai_draft
    if not cfg.enabled:
        raise CliError("AI drafts are off: set [ai_draft] enabled = true with base_url and model in the playbook", 2)
    state = await _state(await _handle(await _client(args), args.incident))
    number = state.number or state.workflow_id
    store = open_store()
    comms = [(rel.rsplit("/", 1)[-1], read_text(store, rel)) for rel in store.list_files(f"{number}/comms/")
             if rel.endswith("-brief.md") and rel.count("/") == 2]
    system, source = await asyncio.to_thread(managed_prompt, cfg.langfuse, cfg.retrospective_prompt,
                                             cfg.prompt_label, RETRO_PROMPT)
    try:
        answer = await asyncio.to_thread(ask, cfg, system, material(state, comms))
        draft = parse_retro_draft(answer.text)
    except (AiDraftError, DraftUnusable) as err:
        raise CliError(f"{number}: no draft: {err}") from err
    text = draft.model_dump_json(indent=2)
    saved = store.write(f"{number}/retrospective-draft.json", text + "\n")  # a file, or a row in PostgreSQL
    path = Path(saved)
    if not path.is_file():  # a shared store: the copy to edit is a local file
        path = Path.cwd() / f"{number}-retrospective-draft.json"
        path.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"{number}: AI draft by {answer.model} (prompt: {source}; response {answer.response_id}; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC) saved to {path}. It is not the retrospective: edit it, then "
          f"firebreak retro {number} --file {path}", file=sys.stderr)
    return 0


def check_draft_args(args: argparse.Namespace) -> None:
    if args.file or args.root_cause:
        raise CliError("--draft asks for a draft; record the retrospective separately with --file or --root-cause", 2)
