"""The client side of Temporal: connect, start and signal-with-start, people's actions and their outcomes, the
watchers' schedules, the payload codec.

Used by the doors (intake, cli, worker, embedded, bench) and by activities that start workflows; never by workflow
code. Workflows are named here by their type (IncidentWorkflow.run, its signals and queries); nothing here runs them.
"""
