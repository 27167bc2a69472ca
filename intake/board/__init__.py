"""The incident board: Firebreak's own web pages for responders, served by the intake (docs/board.md).

session.py signs people in with their personal token; reads.py reads incidents the ways the CLI does; artefacts.py is
the one place artefacts are read; pages.py and incident_page.py render plain HTML; sse.py says when a page changed;
charts.py draws `firebreak report`'s figures; routes.py ties them together.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from temporalio.client import Client

import settings
from intake.config import IntakeConfig
from intake.people import People
from integrations.store import Store


def install_board(app: FastAPI, config: IntakeConfig, people: People, client: Callable[[], Client | None],
                  store: Store) -> None:
    """Serve the board at / when [intake.board] enabled (the default); app.state.board is its state."""
    if not config.board.enabled:
        return
    from intake.board.routes import board_router

    ui = settings.read(settings.TEMPORAL_UI_URL).strip()
    if ui:  # `firebreak up` names its dev server's UI (its --ui-port)
        config = config.model_copy(update={"board": config.board.model_copy(update={"temporal_ui_url": ui})})
    router, board = board_router(config, people, client, store)
    app.state.board = board
    app.include_router(router)
