"""A RecBole 1.2.1 general recommender on mmbench's train graph: its dataset, data loader, model and scores.

:class:`RecBoleSession` turns an mmbench :class:`TrainGraph` (the train split only: a model never sees valid
or test pairs) into what RecBole trains on: atomic files written to a temporary folder and read back by
RecBole's own ``Dataset`` (ids remapped by RecBole), its negative ``Sampler`` and its ``TrainDataLoader``,
and the RecBole model built by ``Model(config, dataset)``. Every mmbench user and item is in RecBole's
vocabulary, also one without a train interaction (``.user`` / ``.item`` files list them all), so RecBole's
``full_sort_predict`` scores the whole catalogue; :meth:`RecBoleSession.scores` returns them in mmbench's
item order. RecBole is imported only here, inside functions, after :func:`recbole_compat.apply`.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mmbench.data.types import TrainGraph
from mmbench.errors import MMBenchError
from mmbench.interop.recbole_data import ITEM, USER, benchmark_config, recbole_config

NAME = "mmbench"
NO_RECBOLE = ("RecBole is not installed; fix: pip install 'mmbench[recbole]' && pip install --no-deps "
              "recbole==1.2.1 (it pins ray<=2.6.3, which does not install on current Python; mmbench's "
              "compatibility shims make 1.2.1 work without it)")

# set by mmbench, never by a recipe's `config:`: the data, the split, training and evaluation are mmbench's
CONTROLLED = frozenset({
    "data_path", "dataset", "benchmark_filename", "USER_ID_FIELD", "ITEM_ID_FIELD", "TIME_FIELD",
    "RATING_FIELD", "LABEL_FIELD", "load_col", "unload_col", "field_separator", "seq_separator", "epochs",
    "train_batch_size", "learning_rate", "learner", "weight_decay", "eval_args", "eval_step", "stopping_step",
    "valid_metric", "metrics", "topk", "eval_batch_size", "seed", "reproducibility", "device", "use_gpu",
    "gpu_id", "checkpoint_dir", "clip_grad_norm", "enable_amp", "enable_scaler", "shuffle", "save_dataset",
    "save_dataloaders", "user_inter_num_interval", "item_inter_num_interval", "rm_dup_inter",
    "filter_inter_by_user_or_item", "val_interval", "normalize_all", "normalize_field", "repeatable"})
WHERE = {"epochs": "train.epochs", "train_batch_size": "train.batch_size", "learning_rate": "train.lr",
         "weight_decay": "train.weight_decay", "eval_step": "train.eval_every", "stopping_step": "train.patience",
         "valid_metric": "train.select_metric", "seed": "seeds", "metrics": "eval.metrics", "topk": "eval.ks"}


class RecBoleError(MMBenchError):
    """RecBole is missing, or a RecBole setting cannot be honoured."""


@contextmanager
def quiet_recbole() -> Iterator[None]:
    """RecBole's INFO logs (it logs through the root logger) and the deprecation warnings its own code raises on
    current pandas and torch, off inside the block; its warnings and errors still show."""
    level = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        with warnings.catch_warnings():
            for category in (FutureWarning, UserWarning, DeprecationWarning):
                warnings.filterwarnings("ignore", category=category, module=r"recbole(\.|$)")
            yield
    finally:
        logging.disable(level)


def check_config(component: str, config: Mapping[str, Any]) -> None:
    """Refuse RecBole settings that mmbench owns, naming the recipe field that sets each one instead."""
    bad = sorted(set(config) & CONTROLLED)
    if bad:
        fixes = "; ".join(f"{k} -> {WHERE[k]}" for k in bad if k in WHERE)
        raise RecBoleError(f"{component}: params.config sets {bad}, which mmbench controls (the split, training "
                           f"and evaluation are the recipe's); fix: remove them"
                           + (f" and use the recipe fields ({fixes})" if fixes else ""))


def _write_atomic(graph: TrainGraph, folder: Path) -> None:
    folder.mkdir(parents=True)
    inter = pd.DataFrame({f"{USER}:token": graph.user.astype(np.int64), f"{ITEM}:token": graph.item.astype(np.int64)})
    inter.to_csv(folder / f"{NAME}.train.inter", sep="\t", index=False, lineterminator="\n")
    pd.DataFrame({f"{USER}:token": np.arange(graph.n_users)}).to_csv(
        folder / f"{NAME}.user", sep="\t", index=False, lineterminator="\n")
    pd.DataFrame({f"{ITEM}:token": np.arange(graph.n_items)}).to_csv(
        folder / f"{NAME}.item", sep="\t", index=False, lineterminator="\n")


class RecBoleSession:
    """One RecBole model on an mmbench train graph, with RecBole's dataset, sampler and data loader."""

    def __init__(self, graph: TrainGraph, model: str, params: Mapping[str, Any], *, seed: int) -> None:
        """Args:
            graph: the train split; RecBole sees nothing else.
            model: RecBole's class name, e.g. ``LightGCN``.
            params: RecBole config entries (the model's hyperparameters, a recipe's ``config:``).
            seed: RecBole's ``seed`` (its data loader's shuffling generator).
        """
        try:
            from mmbench.interop import recbole_compat

            recbole_compat.apply()
            from recbole.data import create_dataset
            from recbole.utils import get_model
        except ImportError as exc:
            raise RecBoleError(f"{NO_RECBOLE} ({exc})") from None

        self.graph, self.model_name = graph, model
        with tempfile.TemporaryDirectory(prefix="mmbench-recbole-") as tmp:
            _write_atomic(graph, Path(tmp) / NAME)
            config = recbole_config(model, {
                # the benchmark-file settings (no filtering, no re-split), reading the one train file
                **benchmark_config(Path(tmp), NAME, timestamp=False), "benchmark_filename": ["train"],
                "load_col": {"inter": [USER, ITEM], "user": [USER], "item": [ITEM]},
                "seed": seed, "reproducibility": True, "checkpoint_dir": tmp, "show_progress": False,
                "state": "WARNING", **params})
            with quiet_recbole():
                dataset = create_dataset(config)
                self.dataset = dataset.build()[0]  # benchmark mode: the one file, as is (no filter, no split)
        self.config = config
        # mmbench id -> RecBole id ([PAD] is RecBole's id 0); every mmbench id is in RecBole's vocabulary
        self.user_ids = self._ids(USER, graph.n_users)
        self.item_ids = self._ids(ITEM, graph.n_items)
        self.mm_user = torch.full((self.dataset.user_num,), -1, dtype=torch.long)
        self.mm_user[self.user_ids] = torch.arange(graph.n_users)
        self.mm_item = torch.full((self.dataset.item_num,), -1, dtype=torch.long)
        self.mm_item[self.item_ids] = torch.arange(graph.n_items)
        if len(self.dataset) != len(graph.user):
            raise RecBoleError(f"RecBole read {len(self.dataset)} train interactions of {len(graph.user)}; "
                               f"this is a bug in mmbench's RecBole adapter, please report it")
        with quiet_recbole():
            self.model = get_model(model)(config, self.dataset)
        self._loader: tuple[int, Any] | None = None

    def _ids(self, field: str, n: int) -> torch.Tensor:
        tokens = self.dataset.field2token_id[field]
        missing = [t for t in map(str, range(n)) if t not in tokens]
        if missing:
            raise RecBoleError(f"RecBole dropped {len(missing)} of {n} {field} values (e.g. {missing[:3]}); this "
                               f"is a bug in mmbench's RecBole adapter, please report it")
        return torch.as_tensor([tokens[str(i)] for i in range(n)], dtype=torch.long)

    @property
    def is_traditional(self) -> bool:
        """Fitted in one pass over the data (Pop, ItemKNN, EASE, ...): RecBole's ``TraditionalTrainer``."""
        from recbole.utils import ModelType

        return self.model.type == ModelType.TRADITIONAL

    def loader(self, batch_size: int) -> Any:
        """RecBole's train data loader (with its negative sampler, if the model samples negatives)."""
        if self._loader is None or self._loader[0] != batch_size:
            from recbole.data.utils import get_dataloader
            from recbole.sampler import Sampler

            config = self.config
            config["train_batch_size"] = batch_size
            neg = config["train_neg_sample_args"]
            sampler = None
            if neg and neg.get("distribution", "none") != "none":
                sampler = Sampler(["train"], [self.dataset], neg["distribution"], neg.get("alpha", 1.0))
                sampler = sampler.set_phase("train")
            self._loader = (batch_size, get_dataloader(config, "train")(config, self.dataset, sampler,
                                                                          shuffle=True))
        return self._loader[1]

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """One epoch of RecBole's loader: ``(users, items, loss)`` per batch, ids in mmbench's numbering.

        ``loss`` is the model's ``calculate_loss`` (a tuple of terms is summed, as RecBole's trainer does);
        ``items`` are the batch's item ids (the positives for pairwise models).
        """
        for interaction in self.loader(batch_size):
            losses = self.model.calculate_loss(interaction)
            loss = sum(losses) if isinstance(losses, tuple) else losses
            users = self.mm_user[interaction[USER]]
            items = self.mm_item[interaction[ITEM]] if ITEM in interaction.interaction else users[:0]
            # user-batched loaders (Mult-VAE's) also visit RecBole's [PAD] user, which is no mmbench user
            yield users[users >= 0], items[items >= 0], loss.reshape(())

    @torch.no_grad()
    def fit_once(self) -> None:
        """RecBole's ``TraditionalTrainer`` pass for a model fitted from the data (Pop counts its items).

        RecBole 1.2.1's Pop adds 1 to an item once per batch however often the batch holds it
        (``cnt[item] = cnt[item] + 1`` with repeated indices), so it would rank by the number of batches an
        item falls in. The pass feeds ``calculate_loss`` batches without a repeated item (the k-th train
        interaction of every item, for k = 1, 2, ...): every interaction is then counted exactly once.
        """
        from recbole.data.interaction import Interaction

        users, items = self.user_ids[self.graph.user], self.item_ids[self.graph.item]
        order = torch.sort(items, stable=True).indices
        items, users = items[order], users[order]
        starts = torch.searchsorted(items, items, right=False)
        occurrence = torch.arange(len(items)) - starts  # 0 for an item's first interaction, 1 for its second...
        for k in range(int(occurrence.max()) + 1 if len(items) else 0):
            sel = occurrence == k
            self.model.calculate_loss(Interaction({USER: users[sel], ITEM: items[sel]}))

    def forget(self) -> None:
        """Drop the model's cached full tables (RecBole's ``restore_*_e``): the weights have changed."""
        for name in ("restore_user_e", "restore_item_e"):
            if getattr(self.model, name, None) is not None:
                setattr(self.model, name, None)

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        """``[len(users), n_items]`` float32 scores by RecBole's ``full_sort_predict``, in mmbench's item order."""
        from recbole.data.interaction import Interaction

        rb_users = self.user_ids[users]
        flat = self.model.full_sort_predict(Interaction({USER: rb_users}))
        return flat.reshape(len(users), -1)[:, self.item_ids].float()
