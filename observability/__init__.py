"""Metrics and structured logs for the worker and the intake (README "Observability")."""
