"""The workflow types the doors name: their type names, signals and queries, for typed handles.

The doors (intake, cli, embedded) reach workflows only through client/, so this is where they get the classes
from; nothing on the client side runs them (the worker does).
"""

from __future__ import annotations

from workflows.action_items import ActionItemWorkflow
from workflows.incident import IncidentWorkflow
from workflows.watch import WatchWorkflow

__all__ = ["ActionItemWorkflow", "IncidentWorkflow", "WatchWorkflow"]
