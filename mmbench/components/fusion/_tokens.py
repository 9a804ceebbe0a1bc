"""Shared input checks for fusion modules: modality names, token shapes and masks, masked tokens zeroed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

ID = "id"


def check_modalities(fusion: str, modalities: Sequence[str], dim: int) -> tuple[str, ...]:
    """The constructor's modality names as a tuple; raises ``ValueError`` on a bad name or ``dim``."""
    if isinstance(modalities, str):  # "text" would otherwise become ("t", "e", "x", "t")
        raise ValueError(f"{fusion}: modalities must be a sequence of names, got the string {modalities!r}")
    names = tuple(modalities)
    bad = [m for m in names if not isinstance(m, str) or not m or m == ID]
    if bad:
        raise ValueError(f"{fusion}: invalid modality names {bad!r} (non-empty strings other than {ID!r})")
    if len(set(names)) != len(names):
        raise ValueError(f"{fusion}: duplicate modality names in {list(names)}")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"{fusion}: dim must be an integer ≥ 1, got {dim!r}")
    return names


def gather(fusion: str, modalities: Sequence[str], dim: int, tokens: Mapping[str, torch.Tensor],
           available: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Check a forward call's inputs; return the id token, the modality tokens and their ``[n, 1]`` masks.

    Modality tokens come back in constructor order with unavailable rows replaced by zeros through
    ``torch.where``: a masked row's values (even inf or NaN) reach neither the output nor the gradients.
    ``available["id"]``, when given, must be all True.
    """
    known = (ID, *modalities)
    for label, mapping in (("tokens", tokens), ("available", available)):
        unknown = [k for k in mapping if k not in known]
        if unknown:
            noun = "modalities" if len(unknown) > 1 else "modality"
            raise ValueError(f"{fusion}: unknown {noun} {', '.join(map(repr, unknown))} in {label}; this module "
                             f"was built for {list(modalities)} (plus {ID!r})")
    missing = [f"tokens[{k!r}]" for k in known if k not in tokens]
    missing += [f"available[{m!r}]" for m in modalities if m not in available]
    if missing:
        raise ValueError(f"{fusion}: missing inputs {', '.join(missing)}; forward needs a token for "
                         f"{ID!r} and a token and an availability mask for each of {list(modalities)}")
    id_token = tokens[ID]
    if id_token.dim() != 2 or id_token.shape[1] != dim:
        raise ValueError(f"{fusion}: tokens[{ID!r}] must be [n, {dim}], got {list(id_token.shape)}")
    n = id_token.shape[0]
    if ID in available and not bool(torch.as_tensor(available[ID]).all()):
        raise ValueError(f"{fusion}: the {ID!r} token is always available, but available[{ID!r}] has False entries")
    out_tokens, masks = [], []
    for m in modalities:
        token, mask = tokens[m], available[m]
        if token.shape != id_token.shape:
            raise ValueError(f"{fusion}: tokens[{m!r}] must be [{n}, {dim}] like tokens[{ID!r}], "
                             f"got {list(token.shape)}")
        if mask.dtype != torch.bool or mask.shape != (n,):
            raise ValueError(f"{fusion}: available[{m!r}] must be a bool tensor of shape [{n}], "
                             f"got {mask.dtype} {list(mask.shape)}")
        mask = mask.unsqueeze(1)
        out_tokens.append(torch.where(mask, token, torch.zeros((), dtype=token.dtype, device=token.device)))
        masks.append(mask)
    return id_token, out_tokens, masks
