"""Metrics and structured logs for the worker and the intake (docs/operations.md, "Observability")."""
