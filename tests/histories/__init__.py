"""Recorded IncidentWorkflow histories, replayed in CI so a workflow change that breaks running incidents fails."""
