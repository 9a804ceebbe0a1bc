"""An mmbench :class:`Split` as RecBole benchmark files, and the RecBole config that reads them unchanged.

RecBole's benchmark-file mode (``benchmark_filename: [train, valid, test]``) loads
``<data_path>/<name>/<name>.<part>.inter`` and uses each file as that part, as is: no filtering and no
re-splitting. :func:`export_split` writes those files with exactly the split's (user, item) pairs (tokens are
mmbench's dense ids), :func:`benchmark_config` gives the config dict for them, and :func:`recbole_config`
builds a RecBole ``Config`` without its process-wide side effects. RecBole is imported only inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmbench.data.types import Interactions, Pairs, Split
from mmbench.errors import DataError

PARTS = ("train", "valid", "test")
USER, ITEM, TIME = "user_id", "item_id", "timestamp"


def _timestamps(pairs: Pairs, inter: Interactions) -> np.ndarray:
    """Each pair's timestamp in ``inter`` (the split was made from it), or a DataError."""
    n = max(inter.n_items, 1)
    keys = inter.user.astype(np.int64) * n + inter.item.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    want = pairs.user.astype(np.int64) * n + pairs.item.astype(np.int64)
    pos = np.searchsorted(keys[order], want).clip(max=max(len(keys) - 1, 0))
    if len(want) and (not len(keys) or not np.array_equal(keys[order][pos], want)):
        raise DataError(f"interactions {inter.name!r} do not hold every pair of the split; fix: pass the "
                        f"interactions the split was made from")
    return inter.timestamp[order[pos]]  # type: ignore[index]


def export_split(split: Split, data_path: Path, name: str | None = None,
                 interactions: Interactions | None = None) -> dict[str, Path]:
    """Write ``<data_path>/<name>/<name>.{train,valid,test}.inter``; returns ``{part: path}``.

    Columns ``user_id:token``, ``item_id:token`` and, when ``interactions`` (the ones the split was made from)
    have timestamps, ``timestamp:float``. Rows keep the split's order; ``name`` defaults to the dataset name.
    """
    name = name or split.dataset
    folder = Path(data_path) / name
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for part in PARTS:
        out[part] = folder / f"{name}.{part}.inter"
        inter_frame(split, part, interactions).to_csv(out[part], sep="\t", index=False, lineterminator="\n")
    return out


def inter_frame(split: Split, part: str, interactions: Interactions | None = None) -> pd.DataFrame:
    """One part of ``split`` as the columns of its ``.inter`` file (header names ``field:type``), in order."""
    pairs: Pairs = getattr(split, part)
    cols = {f"{USER}:token": pairs.user.astype(np.int64), f"{ITEM}:token": pairs.item.astype(np.int64)}
    if interactions is not None and interactions.timestamp is not None:
        cols[f"{TIME}:float"] = _timestamps(pairs, interactions)
    return pd.DataFrame(cols)


def benchmark_config(data_path: Path, name: str, *, timestamp: bool = True) -> dict[str, Any]:
    """RecBole config entries that read :func:`export_split`'s files as the train / valid / test parts.

    Filtering is off (RecBole skips it in benchmark mode anyway; the intervals say so explicitly), float
    fields are not normalised, and ``eval_args.split`` is ``None``, so RecBole fails rather than re-split if
    ``benchmark_filename`` is ever dropped. Evaluation is full ranking per user.
    """
    fields = [USER, ITEM] + ([TIME] if timestamp else [])
    return {
        "data_path": str(data_path), "dataset": name, "benchmark_filename": list(PARTS),
        "field_separator": "\t", "USER_ID_FIELD": USER, "ITEM_ID_FIELD": ITEM,
        **({"TIME_FIELD": TIME} if timestamp else {}), "load_col": {"inter": fields},
        "rm_dup_inter": None, "val_interval": None, "filter_inter_by_user_or_item": False,
        "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)", "normalize_all": False,
        "eval_args": {"split": None, "order": "TO", "group_by": "user", "mode": "full"},
    }


def recbole_config(model: Any, config_dict: dict[str, Any], device: str = "cpu", *,
                   config_files: list[Path] | None = None) -> Any:
    """A ``recbole.config.Config`` for ``model`` (name or class) that ignores ``sys.argv`` and leaves
    ``CUDA_VISIBLE_DEVICES`` alone (RecBole's Config parses ``--key=value`` command-line arguments of the
    host program, e.g. pytest's, and rewrites that variable from ``gpu_id``); runs on ``device``.
    ``config_files`` are RecBole YAML files (e.g. the one ``mmbench data export`` writes), read by RecBole's
    own loader; ``config_dict`` overrides them."""
    import torch

    from mmbench.interop import recbole_compat

    recbole_compat.apply()
    from recbole.config import Config

    class _Config(Config):
        def _load_cmd_line(self) -> dict[str, Any]:
            return {}

        def _init_device(self) -> None:
            self.final_config_dict.update(gpu_id=str(self.final_config_dict["gpu_id"]), single_spec=True,
                                          local_rank=0, device=torch.device(device))

    config = _Config(model=model, dataset=config_dict.get("dataset"),
                     config_file_list=[str(f) for f in config_files] if config_files else None,
                     config_dict={"use_gpu": device != "cpu", **config_dict})
    config.__class__ = Config  # the overrides only act in __init__; RecBole pickles its Config into checkpoints
    return config
