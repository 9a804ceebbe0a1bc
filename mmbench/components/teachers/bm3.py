"""BM3 (Zhou et al., WWW 2023): self-supervised bootstrapping of LightGCN and modality latents, no negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmbench.components._base import EmbeddingRecommender, check_params
from mmbench.components._graph import bipartite_adjacency, propagate
from mmbench.components._items import ItemSide, offset_features, require_features
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_teacher
from mmbench.search_space import Choice


def _cosine_loss(online: torch.Tensor, target: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """``1 - mean cos(online, target)`` over the batch; rows outside ``keep`` count as cosine 0 (no gradient)."""
    cos = F.cosine_similarity(online, target, dim=-1)
    if keep is not None:
        cos = torch.where(keep, cos, torch.zeros((), dtype=cos.dtype))
    return 1 - cos.mean()


@register_teacher("bm3", features=True)
class BM3Teacher(EmbeddingRecommender):
    """BM3: LightGCN + predictor trained to match dropout-perturbed copies of itself and of modality latents.

    Zhou, Zhou, Liu, Zeng, Miao, Wang, You, Jiang, "Bootstrap Latent Representations for Multi-modal
    Recommendation", The Web Conference (WWW) 2023.

    Online embeddings: LightGCN's layer mean over the normalised user–item graph, plus the item ID embedding
    on the item side; each modality is its (fine-tuned) features through a Linear to ``dim``. A shared
    Linear ``predictor`` maps online embeddings to predictions; targets are no-grad copies of the online
    embeddings with ``F.dropout(dropout)`` (the global torch RNG). Loss on the batch's (user, positive) pairs,
    negatives unused: ``[1 - cos(p(u), ī)] + [1 - cos(p(i), ū)] + reg_weight · (‖U‖ + ‖I‖) / n_items
    + cl_weight · Σ_m ([1 - cos(p(f_m,i), ī)] + [1 - cos(p(f_m,i), f̄_m,i)])``, with ``‖·‖`` the (not squared)
    Frobenius norm of the whole online tables (MMRec's ``EmbLoss``) and ``[·]`` a batch mean. Scores are
    ``p(u) · p(i)``, so :meth:`embeddings` returns the predictor outputs; features play no part in scoring.

    Fidelity:
        Source: MMRec ``src/models/bm3.py``, ``src/configs/model/BM3.yaml``, ``src/common/loss.py`` (EmbLoss),
        commit e775373b3ab1354a92165b0885ce4ab3dc4d7497; identical to the author's ``enoche/BM3`` repository
        (ef82a33). ``ci/fidelity/bm3.py`` runs MMRec's class on a 40 users × 30 items graph with
        image 16-d + text 24-d features, 2 layers and the same weights (target dropout 0, and 0.5 with the same
        seed; a repeated item in the batch): max abs differences 1.2e-7 on full-sort scores, 9.5e-7 on the loss
        (≈ 9.9, float32 rounding) and ≤ 3e-8 on the gradients of every shared parameter.

        Differences from MMRec, all no-ops for image + text with every feature present:

        - Any modality set: one projection per modality of the item side, summed into the cl term, instead of
          hard-coded ``t_feat`` / ``v_feat``. Target-dropout masks are drawn users, items, then the modalities
          in the item side's order (MMRec: text, then image); the distribution is the same either way.
        - An item lacking a modality (zeros, not imputed) counts as cosine 0 in that modality's two terms, so
          a missing feature is neither pulled towards nor pulls anything; MMRec has no missing features.
        - MMRec's fine-tuned ``nn.Embedding.from_pretrained(feat, freeze=False)`` is a zero-initialised learned
          offset on the available rows (as in FREEDOM); ``tune_features=False`` freezes the features.
        - MMRec's lr scheduler ``[1.0, 50]`` is constant and so omitted; the trainer owns lr and weight decay.
    """

    # the official grid; the learning rate comes from the study's train space
    search_space = {"n_layers": Choice(1, 2), "dropout": Choice(0.3, 0.5), "reg_weight": Choice(0.1, 0.01)}

    def __init__(self, graph: TrainGraph, items: ItemSide | None, *, dim: int = 64, n_layers: int = 1,
                 dropout: float = 0.5, reg_weight: float = 0.1, cl_weight: float = 2.0,
                 tune_features: bool = True) -> None:
        """Args:
            dim: embedding size, also the size modality features are projected to (MMRec's ``embedding_size``
                and ``feat_embed_dim``, both 64; they must agree, the predictor is shared).
            n_layers: LightGCN layers (MMRec grid [1, 2]; 1, the author's best on Baby and Sports).
            dropout: dropout rate of the target copies (grid [0.3, 0.5]; 0.5, the author's best on Baby and
                Sports; 0 makes targets plain copies).
            reg_weight: weight of the unsquared norm of the online tables (grid [0.1, 0.01]; 0.1, the author's
                best on Baby and Elec).
            cl_weight: weight of the modality terms (MMRec 2.0).
            tune_features: learn an offset on the features, as MMRec's ``from_pretrained(..., freeze=False)``.
        """
        super().__init__()
        check_params("bm3", dim=(dim, dim >= 1, "≥ 1"), n_layers=(n_layers, n_layers >= 0, "≥ 0"),
                     dropout=(dropout, 0 <= dropout < 1, "in [0, 1)"),
                     reg_weight=(reg_weight, reg_weight >= 0, "≥ 0"), cl_weight=(cl_weight, cl_weight >= 0, "≥ 0"))
        items = require_features(items, "bm3", "its modality latents are bootstrapped from them, and BM3 without "
                                 "features is not BM3", "add e.g. `encoders: {text: {name: minilm}}`, or use "
                                 "the `lightgcn` student")
        self.graph, self.items = graph, items
        self.n_layers, self.dropout, self.reg_weight, self.cl_weight = n_layers, dropout, reg_weight, cl_weight
        self.adj = bipartite_adjacency(graph)
        self.user = nn.Embedding(graph.n_users, dim)
        self.item = nn.Embedding(graph.n_items, dim)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        # biases kept (torch's default init): cosine terms are not shift-invariant, unlike FREEDOM's BPR
        self.predictor = nn.Linear(dim, dim)
        nn.init.xavier_normal_(self.predictor.weight)
        self.proj = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in items.dims.items()})
        for layer in self.proj.values():
            nn.init.xavier_normal_(layer.weight)
        self.feature_offset = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(graph.n_items, d)) for m, d in items.dims.items()} if tune_features else {})

    def online(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The online tables before the predictor: LightGCN layer mean, plus the ID embedding for items."""
        out = propagate(self.adj, torch.cat([self.user.weight, self.item.weight]), self.n_layers)
        return out[:self.graph.n_users], out[self.graph.n_users:] + self.item.weight

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        u, i = self.online()
        return self.predictor(u), self.predictor(i)

    def modality_latents(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Every item's projected features ``{m: [n_items, dim]}`` and availability, in the current condition."""
        values, avail = self.items()
        out = {}
        for m in self.items.names:
            x = values[m]
            if m in self.feature_offset:  # offsets only on rows the item side provides
                x = offset_features(x, avail[m], self.feature_offset[m])
            out[m] = self.proj[m](x)
        return out, avail

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """MMRec's ``calculate_loss`` on the (user, positive) pairs; ``neg`` is unused (BM3 has no negatives)."""
        u, i = self.online()
        feats, avail = self.modality_latents()
        # whole-table dropout as in MMRec: a repeated item shares its mask, and a seed gives MMRec's masks
        with torch.no_grad():
            u_target = F.dropout(u, self.dropout, training=True)[users]
            i_target = F.dropout(i, self.dropout, training=True)[pos]
            f_target = {m: F.dropout(f, self.dropout, training=True)[pos] for m, f in feats.items()}
        loss = _cosine_loss(self.predictor(u[users]), i_target) + _cosine_loss(self.predictor(i[pos]), u_target)
        # EmbLoss: unsquared Frobenius norms of the whole tables over the last table's row count
        loss = loss + self.reg_weight * (u.norm() + i.norm()) / len(i)
        for m, f in feats.items():
            online, keep = self.predictor(f[pos]), avail[m][pos]
            loss = loss + self.cl_weight * (_cosine_loss(online, i_target, keep)
                                            + _cosine_loss(online, f_target[m], keep))
        return loss
