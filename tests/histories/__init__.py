"""Recorded histories of every workflow type, replayed in CI so a workflow change that breaks running runs fails."""
