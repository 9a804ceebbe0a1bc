"""mmbench: a benchmark suite for multimodal recommendation with knowledge distillation."""

from __future__ import annotations

__version__ = "0.1.0"

from mmbench.errors import DataError, EncoderError, MMBenchError, RecipeError, ResultsError
from mmbench.kinds import (
    register_dataset,
    register_distill_loss,
    register_encoder,
    register_fusion,
    register_imputer,
    register_metric,
    register_student,
    register_teacher,
)
from mmbench.registry import Registry, RegistryError, UnknownComponentError, load_plugins

__all__ = [
    "__version__",
    "DataError", "EncoderError", "MMBenchError", "RecipeError", "ResultsError",
    "Registry", "RegistryError", "UnknownComponentError", "load_plugins",
    "register_dataset", "register_distill_loss", "register_encoder", "register_fusion",
    "register_imputer", "register_metric", "register_student", "register_teacher",
]
