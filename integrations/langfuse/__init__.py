"""The Langfuse adapter, over the real langfuse 5 SDK, one module per job:

- `client`: one SDK client per connection, and the errors sorted for Temporal (`LangfuseUnavailable` may pass on
  a retry, `LangfuseRejected` will not).
- `prompts`: prompt-label rollback and label moves, verified by reading back.
- `evidence`: the blast-window pull (root observations and scores) for the evidence pack; `extras` the further
  parts (`series`: cost/latency from Metrics API v2; `snapshots`: prompt versions and datasets as of detection).
- `monitor_slice`: the slice of a Langfuse monitor alert's incident (its view, filters and window), which the
  evidence pulls instead of its own scope; `monitor_series`: the monitor's own metric over the blast window.
- `metrics`: what the Metrics API v2 readers share; `watchers`: breaching scores and metric values with their
  baselines; `scans`: tool/agent loops and personal data in trace input/output.
- `formats`: timestamps and JSON as Firebreak writes them.
"""
