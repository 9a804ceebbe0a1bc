"""SMORE (Ong & Khong, WSDM 2025): spectral modality fusion, gated item–item views and a LightGCN backbone."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mmbench.components._base import EmbeddingRecommender, check_params, batch_info_nce, bpr_loss, l2
from mmbench.components._graph import SparseOp, bipartite_adjacency, propagate, similarity_knn, user_item_block
from mmbench.components._items import ItemSide, offset_features, require_features
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_teacher
from mmbench.search_space import Choice

Coo = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # rows, cols, values


def max_union(graphs: Sequence[Coo], n: int) -> SparseOp:
    """SMORE's fused item graph: the union of the modality graphs' edges, each with its largest weight
    (MMRec's ``max_pool_fusion``; not renormalised)."""
    r, c, w = (torch.cat(parts) for parts in zip(*graphs))
    keys, inverse = torch.unique(r * n + c, return_inverse=True)
    top = torch.full((len(keys),), -torch.inf, device=w.device).scatter_reduce(0, inverse, w, "amax")
    return SparseOp.of(keys // n, keys % n, top, (n, n))


def gate(dim: int) -> nn.Sequential:
    """SMORE's gates: ``sigmoid(W x + b)``, applied elementwise to what they gate."""
    return nn.Sequential(nn.Linear(dim, dim), nn.Sigmoid())


@register_teacher("smore", features=True)
class SMORETeacher(EmbeddingRecommender):
    """SMORE: FFT-filtered modality features gate item–item graph views, attention-fused onto a LightGCN backbone.

    Paper: R. K. Ong and A. W. H. Khong, "Spectrum-based Modality Representation Fusion Graph Convolutional
    Network for Multimodal Recommendation", WSDM 2025. Each modality's features are projected to ``dim``, moved
    to the frequency domain over the embedding axis (``rfft``, orthonormal) and filtered by a learnable complex
    filter; the product of all modalities' spectra times a fusion filter gives the fused representation (a
    circular convolution across modalities). Each filtered signal gates the item ID embeddings (sigmoid), which
    propagate ``n_mm_layers`` hops over that modality's similarity k-NN graph (the fused view over the
    edge-wise max of all of them), users taking the normalised user–item average of their items. The fused view
    attends over each modality view (softmax over the embedding axis); gates on the LightGCN embeddings (with
    dropout) weigh every view, whose mean is added to the LightGCN embeddings. Loss: BPR + ``reg_weight``/2 · L2
    of the batch's embeddings + ``cl_loss`` · InfoNCE between the side and LightGCN embeddings of the batch's
    users and positive items.

    Fidelity:
        Source: MMRec ``src/models/smore.py`` and ``src/utils/utils.py`` at e775373b (identical to the authors'
        ``kennethorq/SMORE`` at 0148d92), ``src/configs/model/SMORE.yaml``. ``ci/fidelity/smore.py``
        copies random weights into MMRec's class (40 users × 30 items, image 16-d + text 24-d, three settings
        of n_ui_layers, n_layers, image/text k, dropout 0 and 0.1 under a shared seed): k-NN and fused graphs
        identical, ``full_sort_predict`` vs ``score`` max abs diff 1.2e-7 (scores ~0.5), training loss
        identical, gradients of every shared parameter within 2.4e-8 (largest 0.05).
        Differences: (1) MMRec decays the learning rate by 0.96^(epoch/50) (``learning_rate_scheduler``);
        mmbench's trainer has no scheduler. (2) Any set of modalities: one filter, gate, query and preference
        gate per modality; the fused spectrum multiplies every modality's (with one modality: its own, filtered
        by the fusion filter); the fused graph is the max over all graphs. MMRec hard-codes image + text (and
        breaks without either); for exactly image + text this is MMRec's model. (3) k per modality: ``knn_k``
        for every modality, ``image_knn_k``/``text_knn_k`` override it for ``image``/``text`` (ignored when
        the modality is absent). (4) Items without a modality: self-loop only in its graph (MMRec: NaN rows);
        their features are what the item side gives; the feature fine-tuning (MMRec's
        ``from_pretrained(freeze=False)``) is a zero-initialised offset on available rows. (5) The L2 term
        divides by the batch's length (MMRec: the configured batch size, also for the last, shorter batch).
        (6) k is capped at the number of items having the modality (MMRec: error). (7) InfoNCE with its own
        backward over the batch's distinct rows weighted by their counts (``_base.batch_info_nce``): the same
        value and gradients up to float rounding, on logits shrunk to the distinct rows.
    """

    # the official grid; the learning rate comes from the study's train space. For modality sets without image
    # or text, replace the k dimensions with ``knn_k`` (an override of an absent modality changes nothing)
    search_space = {"n_ui_layers": Choice(3, 4), "image_knn_k": Choice(10, 15, 20, 40),
                    "text_knn_k": Choice(10, 15, 20, 40), "reg_weight": Choice(1e-5, 1e-4),
                    "dropout_rate": Choice(0.0, 0.1)}

    def __init__(self, graph: TrainGraph, items: ItemSide | None, *, dim: int = 64, n_ui_layers: int = 3,
                 n_mm_layers: int = 1, knn_k: int = 10, image_knn_k: int | None = None,
                 text_knn_k: int | None = None, reg_weight: float = 1e-5, cl_loss: float = 0.01,
                 temperature: float = 0.2, dropout_rate: float = 0.0, tune_features: bool = True) -> None:
        """Args:
            dim: embedding size, also of the projected features (MMRec's ``embedding_size``).
            n_ui_layers: LightGCN layers (MMRec grid [3, 4]; the first here).
            n_mm_layers: hops over each item–item graph (MMRec's ``n_layers``, 1).
            knn_k: neighbours per item in every modality's graph (MMRec grid [10, 15, 20, 40]; the first here).
            image_knn_k: overrides ``knn_k`` for ``image`` (MMRec's ``image_knn_k``).
            text_knn_k: overrides ``knn_k`` for ``text`` (MMRec's ``text_knn_k``).
            reg_weight: weight of the L2 term (MMRec grid [1e-5, 1e-4]; the first here).
            cl_loss: weight of the InfoNCE terms (MMRec 0.01).
            temperature: InfoNCE temperature (MMRec config 0.2, hard-coded there).
            dropout_rate: dropout on the preference gates (MMRec grid [0, 0.1]; the first here).
            tune_features: learn an offset on the features, as MMRec's fine-tuned feature embeddings do (the
                item graphs stay frozen).
        """
        super().__init__()
        check_params("smore", dim=(dim, dim >= 1, "≥ 1"), n_ui_layers=(n_ui_layers, n_ui_layers >= 0, "≥ 0"),
                     n_mm_layers=(n_mm_layers, n_mm_layers >= 0, "≥ 0"), knn_k=(knn_k, knn_k >= 1, "≥ 1"),
                     image_knn_k=(image_knn_k, image_knn_k is None or image_knn_k >= 1, "None or ≥ 1"),
                     text_knn_k=(text_knn_k, text_knn_k is None or text_knn_k >= 1, "None or ≥ 1"),
                     reg_weight=(reg_weight, reg_weight >= 0, "≥ 0"), cl_loss=(cl_loss, cl_loss >= 0, "≥ 0"),
                     temperature=(temperature, temperature > 0, "> 0"),
                     dropout_rate=(dropout_rate, 0 <= dropout_rate < 1, "in [0, 1)"))
        items = require_features(items, "smore", "its spectral fusion and item–item graphs are built from them",
                                 "add e.g. `encoders: {text: {name: minilm}}`, or use the `lightgcn` student")
        self.graph, self.items, self.names = graph, items, list(items.names)
        self.n_ui_layers, self.n_mm_layers = n_ui_layers, n_mm_layers
        self.reg_weight, self.cl_loss = reg_weight, cl_loss
        self.temperature, self.dropout_rate = temperature, dropout_rate
        overrides = {"image": image_knn_k, "text": text_knn_k}
        self.knn_k = {m: overrides.get(m) or knn_k for m in self.names}
        self.adj = bipartite_adjacency(graph)
        self.r = user_item_block(graph)  # users' side of each item view (MMRec's self.R)
        self._graphs: tuple[int, dict[str, SparseOp], SparseOp] | None = None
        self.user = nn.Embedding(graph.n_users, dim)
        self.item = nn.Embedding(graph.n_items, dim)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        names = self.names
        self.proj = nn.ModuleDict({m: nn.Linear(items.dims[m], dim) for m in names})
        # complex filters stored as (real, imag) pairs, as MMRec does: Adam and state dicts stay real
        self.filters = nn.ParameterDict({m: nn.Parameter(torch.randn(1, dim // 2 + 1, 2)) for m in names})
        self.fusion_filter = nn.Parameter(torch.randn(1, dim // 2 + 1, 2))
        self.gates = nn.ModuleDict({m: gate(dim) for m in names})
        self.fusion_gate = gate(dim)
        self.queries = nn.ModuleDict({m: nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, dim, bias=False))
                                      for m in names})
        self.prefer = nn.ModuleDict({m: gate(dim) for m in names})
        self.fusion_prefer = gate(dim)
        self.feature_offset = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(graph.n_items, items.dims[m])) for m in names} if tune_features else {})

    def item_graphs(self) -> tuple[dict[str, SparseOp], SparseOp]:
        """Each modality's frozen k-NN graph and their max-fusion, rebuilt only when the item side's condition
        (a robustness mask, a test-time imputer) changes."""
        key = self.items.condition_key()
        if self._graphs is None or self._graphs[0] != key:
            values, avail = self.items.frozen()
            coo = {m: similarity_knn(values[m], avail[m], self.knn_k[m]) for m in self.names}
            n = self.graph.n_items
            self._graphs = (key, {m: SparseOp.of(*g, (n, n)) for m, g in coo.items()}, max_union(list(coo.values()), n))
        return self._graphs[1], self._graphs[2]

    def _view(self, op: SparseOp, signal: torch.Tensor, gate_: nn.Module) -> torch.Tensor:
        """An item–item view: ID embeddings gated by ``signal``, propagated over ``op``, users averaging."""
        h = self.item.weight * gate_(signal)
        for _ in range(self.n_mm_layers):
            h = op @ h
        return torch.cat([self.r @ h, h])

    def _forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(side, content)`` embeddings of users then items; the final ones are their sum."""
        values, avail = self.items()
        graphs, fused_graph = self.item_graphs()
        dim = self.item.weight.shape[1]
        spectra = {}
        for m in self.names:
            x = values[m]
            if m in self.feature_offset:  # offsets only on rows the item side provides
                x = offset_features(x, avail[m], self.feature_offset[m])
            spectra[m] = torch.fft.rfft(self.proj[m](x), dim=1, norm="ortho")
        fused_spectrum = spectra[self.names[0]]
        for m in self.names[1:]:
            fused_spectrum = fused_spectrum * spectra[m]

        def inverse(spectrum: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
            return torch.fft.irfft(spectrum * torch.view_as_complex(filt), n=dim, dim=1, norm="ortho")

        views = {m: self._view(graphs[m], inverse(spectra[m], self.filters[m]), self.gates[m]) for m in self.names}
        fused = self._view(fused_graph, inverse(fused_spectrum, self.fusion_filter), self.fusion_gate)
        content = propagate(self.adj, torch.cat([self.user.weight, self.item.weight]), self.n_ui_layers)
        # dropout draws in MMRec's order (modalities, then the fused view), so a shared seed gives the same masks
        sides = [F.dropout(self.prefer[m](content), self.dropout_rate, self.training)
                 * (torch.softmax(self.queries[m](fused), dim=-1) * views[m]) for m in self.names]
        sides.append(F.dropout(self.fusion_prefer(content), self.dropout_rate, self.training) * fused)
        return torch.stack(sides).mean(0), content

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        side, content = self._forward()
        return (content + side).split([self.graph.n_users, self.graph.n_items])

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        side, content = self._forward()
        u, i = (content + side).split([self.graph.n_users, self.graph.n_items])
        loss = bpr_loss(u[users], i[pos], i[neg]) + self.reg_weight / 2 * l2(u[users], i[pos], i[neg])
        if self.cl_loss:
            n = self.graph.n_users
            cl = (batch_info_nce(side, content, n + pos, self.temperature)
                  + batch_info_nce(side, content, users, self.temperature))
            loss = loss + self.cl_loss * cl
        return loss
