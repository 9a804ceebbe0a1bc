"""Recipes: the validated YAML that names every component of a run."""
