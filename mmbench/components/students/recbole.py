"""RecBole 1.2.1's general recommenders as mmbench students and baselines: ``recbole/<model>``.

Each model is built and trained by RecBole's own code on exactly the recipe's train split — its ``Dataset``,
negative sampler, ``TrainDataLoader`` and ``calculate_loss`` (see :mod:`mmbench.interop.recbole_models`) —
while mmbench's trainer steps the optimiser (Adam with the recipe's ``train.lr`` / ``weight_decay``, RecBole's
default learner), validates every ``train.eval_every`` epochs and keeps the best state on the validation split,
exactly as for every other row of the leaderboard; mmbench's evaluator then tests the selected model. So a
``recbole/lightgcn`` row and a ``lightgcn`` row differ only in the model code.

Recipe params are the model's RecBole hyperparameters under RecBole's names, with RecBole 1.2.1's defaults
(``recbole/properties/model/<Model>.yaml``); ``config`` passes any other RecBole setting of the model. Models
RecBole fits in one pass (Pop, ItemKNN, EASE, the SLIM variants: its ``TraditionalTrainer``) are fitted in the
constructor and not trained further. Models whose score is a dot product of user and item tables
(BPR, LightGCN, NGCF, SGL, DGCF, SpectralCF) provide ``embeddings()``, so they can be distilled into, and
their serving latency is timed on the tables, like mmbench's own students.

Left out: RecBole models with their own trainer loop (NCL's E-step, RaCT, RecVAE, DiffRec), and those needing
item features or pretraining (ConvNCF). Per-epoch resume of an interrupted run is off for these models
(RecBole's data loader state is not checkpointed); the trained-model cache works as for any model.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mmbench.data.types import TrainGraph
from mmbench.interop.recbole_models import RecBoleSession, check_config
from mmbench.kinds import register_student
from mmbench.recipe.schema import TrainSpec
from mmbench.search_space import Dimension, IntRange, LogUniform, Uniform

Tables = Callable[[nn.Module], "tuple[torch.Tensor, torch.Tensor]"]


class RecBoleStudent(nn.Module):
    """Base of the ``recbole/<model>`` components: a RecBole model trained by RecBole's data pipeline."""

    recbole_model: str = ""
    registry_name: str = ""

    def __init__(self, graph: TrainGraph, train: TrainSpec | None = None, **params: Any) -> None:
        super().__init__()
        config = dict(params.pop("config", None) or {})
        check_config(self.registry_name, config)
        # RecBole's loader shuffles with its own generator: seed it from the run's seeded torch RNG
        seed = int(torch.randint(2**31 - 1, ()).item())
        # some constructors size things from the batch size (DGCF's correlation sample): the recipe's
        self.batch_size = (train or TrainSpec()).batch_size
        self.session = RecBoleSession(graph, self.recbole_model,
                                      {**config, **params, "train_batch_size": self.batch_size}, seed=seed)
        self.net = self.session.model
        if self.session.is_traditional:  # RecBole's TraditionalTrainer: one pass (Pop counts), then fixed
            self.session.fit_once()
            for p in self.net.parameters():
                p.requires_grad_(False)
        self.net.eval()

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        raise RuntimeError(f"{self.registry_name} is trained on RecBole's own batches (train_batches), not on "
                           f"mmbench's BPR triples")

    def train_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """One epoch of RecBole's batches: ``(users, items, loss)``, ids in mmbench's numbering."""
        return self.session.batches(batch_size)

    @torch.no_grad()
    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.session.scores(users)

    def fitted_arrays(self) -> list[tuple[int, int]]:
        """``(elements, bytes)`` of the state RecBole keeps outside parameters and scores with (EASE's item
        matrix, ItemKNN's neighbours and the interaction matrix, Pop's counts); cached tables excluded."""
        import scipy.sparse as sp  # RecBole's own dependency, as are these arrays

        out = []
        for name, value in vars(self.net).items():
            if name.startswith("restore_") or name.startswith("_"):
                continue
            if isinstance(value, np.ndarray):
                out.append((value.size, value.nbytes))
            elif sp.issparse(value):
                nbytes = sum(getattr(value, a).nbytes for a in ("data", "indices", "indptr", "row", "col")
                             if hasattr(value, a))
                out.append((value.nnz, nbytes))
            elif isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter) and not value.is_sparse:
                out.append((value.numel(), value.numel() * value.element_size()))
        return out

    def train(self, mode: bool = True) -> RecBoleStudent:
        self.session.forget()
        return super().train(mode)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        self.session.forget()  # RecBole's cached tables belong to the weights being replaced
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


class RecBoleTableStudent(RecBoleStudent):
    """A RecBole model whose score is ``users @ items.T``: adds ``embeddings()`` and cached serving tables."""

    tables_of: Tables | None = None

    def __init__(self, graph: TrainGraph, train: TrainSpec | None = None, **params: Any) -> None:
        super().__init__(graph, train, **params)
        self._tables: tuple[torch.Tensor, torch.Tensor] | None = None

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(users [n_users, d], items [n_items, d])`` in mmbench's numbering (differentiable in training)."""
        u, i = type(self).tables_of(self.net)  # type: ignore[misc]
        return u[self.session.user_ids], i[self.session.item_ids]

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training:
            return self.embeddings()
        if self._tables is None:
            with torch.no_grad():
                u, i = self.embeddings()
            self._tables = (u.detach(), i.detach())
        return self._tables

    @torch.no_grad()
    def score(self, users: torch.Tensor) -> torch.Tensor:
        u, i = self.tables()
        return u[users] @ i.T

    def fitted_arrays(self) -> list[tuple[int, int]]:
        return []  # served from the tables of its parameters, like mmbench's own embedding models

    def train(self, mode: bool = True) -> RecBoleTableStudent:
        self._tables = None
        return super().train(mode)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        self._tables = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


@dataclass(frozen=True)
class RecBoleModel:
    """One registered RecBole model: its class, what it is, its hyperparameters and (if any) its tables."""

    name: str
    recbole: str
    summary: str
    params: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    tables: Tables | None = None
    space: dict[str, Dimension] = field(default_factory=dict)  # the default search space of its params
    closed_form: bool = False  # fitted, not trained: a study has no training settings to search


def _weights(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    return net.user_embedding.weight, net.item_embedding.weight  # type: ignore[union-attr]


def _forward(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    return net.forward()[:2]  # type: ignore[operator]


def _sgl(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    return net.forward(net.train_graph)  # type: ignore[operator]


GRAPH = {"embedding_size": (int, 64), "reg_weight": (float, 1e-5), "require_pow": (bool, False)}
MODELS = [
    RecBoleModel("pop", "Pop", "RecBole's Pop: items ranked by train interaction count (no training).",
                 closed_form=True),
    RecBoleModel("itemknn", "ItemKNN", "RecBole's ItemKNN: item–item cosine k-nearest neighbours (no training).",
                 {"k": (int, 100), "shrink": (float, 0.0)},
                 space={"k": IntRange(10, 1000, log=True), "shrink": Uniform(0.0, 100.0)}, closed_form=True),
    RecBoleModel("ease", "EASE", "RecBole's EASE (Steck, WWW 2019): closed-form shallow autoencoder (no training).",
                 {"reg_weight": (float, 250.0)}, space={"reg_weight": LogUniform(1.0, 1.0e4)}, closed_form=True),
    RecBoleModel("slimelastic", "SLIMElastic", "RecBole's SLIM with ElasticNet (Ning & Karypis, ICDM 2011).",
                 {"alpha": (float, 0.2), "l1_ratio": (float, 0.02), "positive_only": (bool, True),
                  "hide_item": (bool, True)}, closed_form=True),
    RecBoleModel("bpr", "BPR", "RecBole's BPR-MF (Rendle et al., UAI 2009).", {"embedding_size": (int, 64)},
                 _weights),
    RecBoleModel("lightgcn", "LightGCN", "RecBole's LightGCN (He et al., SIGIR 2020).",
                 {**GRAPH, "n_layers": (int, 2)}, _forward,
                 space={"reg_weight": LogUniform(1e-6, 1e-2), "n_layers": IntRange(1, 4)}),
    RecBoleModel("ngcf", "NGCF", "RecBole's NGCF (Wang et al., SIGIR 2019).",
                 {**GRAPH, "hidden_size_list": (list[int], [64, 64, 64]), "node_dropout": (float, 0.0),
                  "message_dropout": (float, 0.1)}, _forward),
    RecBoleModel("sgl", "SGL", "RecBole's SGL (Wu et al., SIGIR 2021): LightGCN with self-supervised graph views.",
                 {**GRAPH, "n_layers": (int, 3), "type": (str, "ED"), "ssl_tau": (float, 0.5),
                  "ssl_weight": (float, 0.05), "drop_ratio": (float, 0.1)}, _sgl),
    RecBoleModel("dgcf", "DGCF", "RecBole's DGCF (Wang et al., SIGIR 2020): disentangled graph collaborative filtering.",
                 {**GRAPH, "reg_weight": (float, 1e-3), "n_factors": (int, 4), "n_iterations": (int, 2),
                  "n_layers": (int, 1), "cor_weight": (float, 0.01)}, _forward),
    RecBoleModel("spectralcf", "SpectralCF", "RecBole's SpectralCF (Zheng et al., RecSys 2018).",
                 {**GRAPH, "reg_weight": (float, 1e-3), "n_layers": (int, 4)}, _forward),
    RecBoleModel("multivae", "MultiVAE", "RecBole's Mult-VAE (Liang et al., WWW 2018).",
                 {"mlp_hidden_size": (list[int], [600]), "latent_dimension": (int, 128),
                  "dropout_prob": (float, 0.5), "anneal_cap": (float, 0.2), "total_anneal_steps": (int, 200000)}),
    RecBoleModel("simplex", "SimpleX", "RecBole's SimpleX (Mao et al., CIKM 2021): cosine contrastive loss.",
                 {"embedding_size": (int, 64), "margin": (float, 0.5), "negative_weight": (int, 10),
                  "gamma": (float, 0.5), "aggregator": (str, "mean"), "history_len": (int, 50),
                  "reg_weight": (float, 1e-5), "dropout_prob": (float, 0.1)}),
]


def _make(spec: RecBoleModel) -> type[RecBoleStudent]:
    """A class whose keyword-only constructor parameters are ``spec``'s hyperparameters plus ``config``."""
    base = RecBoleTableStudent if spec.tables is not None else RecBoleStudent
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("graph", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=TrainGraph),
              inspect.Parameter("train", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                annotation=TrainSpec | None)]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=t)
               for k, (t, d) in spec.params.items()]
    params.append(inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None,
                                    annotation=dict[str, Any] | None))

    def __init__(self: RecBoleStudent, graph: TrainGraph, train: TrainSpec | None = None, **kwargs: Any) -> None:
        base.__init__(self, graph, train, **{k: d for k, (_, d) in spec.params.items()} | kwargs)

    __init__.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    __init__.__doc__ = (f"Args: RecBole {spec.recbole}'s hyperparameters ({', '.join(spec.params) or 'none'}) "
                        f"with its defaults; config: any other RecBole setting of the model.")
    cls_name = f"RecBole{spec.recbole}Student"
    cls = type(cls_name, (base,), {
        "__init__": __init__, "__doc__": f"{spec.summary}\n\nTrained by RecBole 1.2.1 on the recipe's split.",
        "__module__": __name__, "__qualname__": cls_name, "recbole_model": spec.recbole,
        "registry_name": f"recbole/{spec.name}", "search_space": dict(spec.space),
        "tunes_training": not spec.closed_form,
        **({"tables_of": staticmethod(spec.tables)} if spec.tables else {})})
    return cls


for _spec in MODELS:
    _cls = _make(_spec)
    globals()[_cls.__name__] = _cls
    register_student(f"recbole/{_spec.name}", train=True)(_cls)
