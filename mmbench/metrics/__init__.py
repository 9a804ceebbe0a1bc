"""Ranking metrics, latency and robustness measurements."""
