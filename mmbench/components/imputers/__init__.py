"""Imputers: fill the feature rows of items whose modality is missing (available rows stay unchanged)."""
