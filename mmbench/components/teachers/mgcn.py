"""MGCN (Yu et al., ACM MM 2023): behaviour-purified modality views on item k-NN graphs, fused by attention."""

from __future__ import annotations

import torch
from torch import nn

from mmbench.components._base import EmbeddingRecommender, check_params, batch_info_nce, bpr_loss, l2
from mmbench.components._graph import SparseOp, bipartite_adjacency, propagate, similarity_knn, user_item_block
from mmbench.components._items import ItemSide, offset_features, require_features
from mmbench.data.types import TrainGraph
from mmbench.kinds import register_teacher
from mmbench.search_space import Choice


@register_teacher("mgcn", features=True)
class MGCNTeacher(EmbeddingRecommender):
    """MGCN: LightGCN behaviour view plus per-modality purified item–item views, fused by behaviour-aware attention.

    Yu, Tan, Lu & Bao, "Multi-View Graph Convolutional Network for Multimedia Recommendation", ACM MM 2023.
    Per modality m: ``f_m = W_m x_m + b_m``, purified ``p_m = e_i ⊙ σ(G_m f_m)`` (gate driven by the item ID
    embedding ``e_i``), ``n_mm_layers`` hops over m's frozen similarity k-NN graph ``S_m`` (:func:`~mmbench.components._graph.similarity_knn`),
    users ``R̂ p_m`` with ``R̂ = D_u^-1/2 R D_i^-1/2``. Behaviour view ``c`` = LightGCN mean over ``n_ui_layers``.
    Fuser: ``α = softmax_m(q(v_m))`` with ``q = Linear–tanh–Linear``, common ``Σ α_m v_m``, specific
    ``σ(P_m c) ⊙ (v_m - common)``, side ``= (common + Σ specific) / (M + 1)``; final ``c + side``. Loss: BPR +
    ``reg_weight``·½‖batch rows‖²/batch + ``cl_loss``·(InfoNCE(side, c) over the batch's positive items + over
    its users), temperature 0.2.

    Fidelity:
        Source: MMRec ``src/models/mgcn.py``, ``src/utils/utils.py``, ``src/configs/model/MGCN.yaml`` at
        e775373b3ab1354a92165b0885ce4ab3dc4d7497; identical (model and utils) to the authors' demonph10/MGCN at
        d080d5a1475bfa0e3668ead6c28815a2dedd3ad2. ``ci/fidelity/mgcn.py`` loads the official class with the
        same weights (40 users × 30 items, image 16-d + text 24-d, fine-tuned features perturbed; 3 seeds, cl_loss
        up to 0.1, reg_weight up to 1e-2): k-NN graphs identical, ``full_sort_predict`` vs
        ``score`` 3.7e-8 (scores ≈ 0.15), training loss 0, gradients of every shared parameter 4.7e-9 (largest
        gradient 8.7e-3), all float32.
        Differences: (1) MMRec decays the learning rate by 0.96^(epoch/50); mmbench's trainer has no scheduler.
        (2) The L2 term is divided by the batch's length, MMRec's by the configured ``train_batch_size``: they
        differ on an epoch's last, shorter batch. (3) Any modality set: MMRec hard-codes image + text (gates
        ``gate_v``/``gate_t``, ``gate_image_prefer``/``gate_text_prefer``, two adjacencies, side ``/ 3``); here one
        gate, preference gate and k-NN graph per modality, the attention softmax over all M modalities and side
        ``/ (M + 1)``, which for exactly image + text is the official model. With one modality the attention and
        preference gates are constant (weight 1, specific part 0), so they are not built; side ``= v / 2``.
        (4) Fine-tuned features (``from_pretrained(freeze=False)``) are a zero-initialised offset on available
        rows (as FREEDOM), and the k-NN graph is built from the item side's features: unavailable items get a
        self-loop only (MMRec would divide by a zero norm); it is rebuilt when a robustness condition changes it.
        (5) MMRec caches the k-NN graphs in ``image_adj_10_True.pt`` files; nothing is written here. (6) Duplicate
        train edges count once. (7) InfoNCE as a log-sum-exp with its own backward, over the batch's distinct
        rows weighted by their counts (``_base.batch_info_nce``; same value and gradients, no exp overflow, the
        logits shrunk to the distinct rows).
    """

    search_space = {"cl_loss": Choice(0.001, 0.01, 0.1)}  # MMRec's grid (hyper_parameters: ["cl_loss"])

    def __init__(self, graph: TrainGraph, items: ItemSide | None, *, dim: int = 64, knn_k: int = 10,
                 n_mm_layers: int = 1, n_ui_layers: int = 2, reg_weight: float = 1e-4, cl_loss: float = 0.001,
                 temperature: float = 0.2, tune_features: bool = True) -> None:
        """Args:
            dim: embedding size, also the size the features are projected to (MMRec's ``embedding_size``, 64).
            knn_k: neighbours per item in each modality's k-NN graph (itself included).
            n_mm_layers: hops over the item–item graphs (MMRec's ``n_layers``, 1).
            n_ui_layers: LightGCN layers of the behaviour view.
            reg_weight: weight of the L2 term on the batch's final user/item rows.
            cl_loss: weight of the InfoNCE between the side and behaviour views (MMRec grid [0.001, 0.01, 0.1]
                with no default; the first here).
            temperature: InfoNCE temperature (0.2 as in ``calculate_loss``; MMRec's ``self.tau = 0.5`` is unused).
            tune_features: learn an offset on the features, as MMRec's ``from_pretrained(freeze=False)``.
        """
        super().__init__()
        check_params("mgcn", dim=(dim, dim >= 1, "≥ 1"), knn_k=(knn_k, knn_k >= 1, "≥ 1"),
                     n_mm_layers=(n_mm_layers, n_mm_layers >= 0, "≥ 0"),
                     n_ui_layers=(n_ui_layers, n_ui_layers >= 0, "≥ 0"),
                     reg_weight=(reg_weight, reg_weight >= 0, "≥ 0"), cl_loss=(cl_loss, cl_loss >= 0, "≥ 0"),
                     temperature=(temperature, temperature > 0, "> 0"))
        items = require_features(items, "mgcn", "its item–item views are built from them, and MGCN without "
                                 "features is not MGCN", "add e.g. `encoders: {text: {name: minilm}}`, or use "
                                 "the `lightgcn` student")
        self.graph, self.items = graph, items
        self.knn_k, self.n_mm_layers, self.n_ui_layers = knn_k, n_mm_layers, n_ui_layers
        self.reg_weight, self.cl_loss, self.temperature = reg_weight, cl_loss, temperature
        self.adj = bipartite_adjacency(graph)
        self.user_items = user_item_block(graph)
        self._knn: tuple[int, dict[str, SparseOp]] | None = None
        self.user = nn.Embedding(graph.n_users, dim)
        self.item = nn.Embedding(graph.n_items, dim)
        nn.init.xavier_uniform_(self.user.weight)
        nn.init.xavier_uniform_(self.item.weight)
        names = items.names
        self.proj = nn.ModuleDict({m: nn.Linear(items.dims[m], dim) for m in names})
        self.gate = nn.ModuleDict({m: nn.Linear(dim, dim) for m in names})
        multi = len(names) > 1
        self.prefer = nn.ModuleDict({m: nn.Linear(dim, dim) for m in names} if multi else {})
        self.query = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False)) if multi else None
        self.feature_offset = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(graph.n_items, items.dims[m])) for m in names} if tune_features else {})

    def item_graphs(self) -> dict[str, SparseOp]:
        """The frozen k-NN graph of each modality, rebuilt only when the item side's condition changes."""
        key = self.items.condition_key()
        if self._knn is None or self._knn[0] != key:
            values, avail = self.items.frozen()
            n = self.graph.n_items
            self._knn = (key, {m: SparseOp.of(*similarity_knn(values[m], avail[m], self.knn_k), (n, n))
                               for m in self.items.names})
        return self._knn[1]

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(content, side)`` over users then items: the behaviour view and the fused modality view."""
        content = propagate(self.adj, torch.cat([self.user.weight, self.item.weight]), self.n_ui_layers)
        values, avail = self.items()
        graphs = self.item_graphs() if self.n_mm_layers else {}
        modal = []
        for m in self.items.names:
            x = values[m]
            if m in self.feature_offset:
                x = offset_features(x, avail[m], self.feature_offset[m])
            h = self.item.weight * torch.sigmoid(self.gate[m](self.proj[m](x)))
            for _ in range(self.n_mm_layers):
                h = graphs[m] @ h
            modal.append(torch.cat([self.user_items @ h, h]))
        if self.query is None:  # one modality: the softmax weight is 1 and the specific part 0
            return content, modal[0] / 2
        v = torch.stack(modal)  # [M, n_users + n_items, d]
        common = (torch.softmax(self.query(v), dim=0) * v).sum(0)
        specific = sum(torch.sigmoid(self.prefer[m](content)) * (v[k] - common)
                       for k, m in enumerate(self.items.names))
        return content, (common + specific) / (len(modal) + 1)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        content, side = self.views()
        return (content + side).split([self.graph.n_users, self.graph.n_items])

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        content, side = self.views()
        n_users = self.graph.n_users
        u, i = (content + side).split([n_users, self.graph.n_items])
        loss = bpr_loss(u[users], i[pos], i[neg]) + self.reg_weight / 2 * l2(u[users], i[pos], i[neg])
        if self.cl_loss:
            cl = (batch_info_nce(side, content, n_users + pos, self.temperature)
                  + batch_info_nce(side, content, users, self.temperature))
            loss = loss + self.cl_loss * cl
        return loss
