"""Run records, their atomic store, and leaderboards."""
