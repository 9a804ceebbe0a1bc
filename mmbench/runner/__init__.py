"""The runner: plain functions passing typed objects forward (data → model → evaluation → record)."""
