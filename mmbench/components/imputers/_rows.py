"""Shared pieces of the imputers: input checks and the masked fill that keeps available rows bit-exact."""

from __future__ import annotations

import torch


def check_dim(imputer: str, dim: int) -> int:
    """``dim`` if it is an integer ≥ 1, else ``ValueError``."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{imputer}: dim must be an integer ≥ 1, got {dim!r}")
    return dim


def check_inputs(imputer: str, dim: int, features: torch.Tensor, available: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``features`` is ``[n, dim]`` floating point and ``available`` a ``[n]`` bool."""
    if features.dim() != 2 or features.shape[1] != dim or not features.is_floating_point():
        raise ValueError(f"{imputer}: features must be a float [n, {dim}] tensor, "
                         f"got {features.dtype} {list(features.shape)}")
    if available.dtype != torch.bool or available.shape != features.shape[:1]:
        raise ValueError(f"{imputer}: available must be a bool tensor of shape [{features.shape[0]}], "
                         f"got {available.dtype} {list(available.shape)}")


def fill(features: torch.Tensor, available: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Available rows of ``features``, other rows from ``values`` (``[n, dim]`` or broadcastable ``[dim]``).

    ``torch.where`` selects, so the unavailable rows' old contents (inf, NaN, anything) cannot leak into
    the result or into gradients, and the available rows are returned bit for bit.
    """
    return torch.where(available.unsqueeze(1), features, values.to(features.dtype))


def masked_mean(features: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
    """Mean ``[dim]`` of the available rows; zeros when no row is available."""
    kept = torch.where(available.unsqueeze(1), features, torch.zeros((), dtype=features.dtype, device=features.device))
    return kept.sum(0) / available.sum().clamp_min(1).to(features.dtype)
