"""The incident workflow, in rooms by phase around a small core; workflow.py is where to start reading."""

from workflows.incident.workflow import IncidentWorkflow

__all__ = ["IncidentWorkflow"]
