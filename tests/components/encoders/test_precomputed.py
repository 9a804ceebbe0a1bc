"""The precomputed encoder: dataset feature sources and .npy files mapped to items by id."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench.components.encoders.precomputed import PrecomputedEncoder
from mmbench.data.item_inputs import ItemInputs
from mmbench.data.load import load_dataset
from mmbench.data.types import Feature
from mmbench.errors import EncoderError, MMBenchError


@pytest.fixture
def inputs() -> ItemInputs:
    vis = Feature("image", np.arange(8, dtype=np.float32).reshape(4, 2), np.array([True, True, False, True]))
    return ItemInputs(np.array([10, 11, 12, 13]), {"visual": vis}, "toy")


def test_dataset_feature_keeps_its_mask_and_chunks_alike(inputs):
    enc = PrecomputedEncoder(feature="visual")
    values, available = enc.encode(inputs)
    assert values.dtype == np.float32 and values.shape == (4, 2)
    assert available.tolist() == [True, True, False, True]
    assert not values[2].any()  # a missing row is zeros, never the stored vector
    parts = [enc.encode(inputs[0:3]), enc.encode(inputs[3:4])]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), values)


def test_unknown_feature_names_the_available_ones(inputs):
    with pytest.raises(EncoderError, match="no feature source 'visul'; fix: use one of: visual"):
        PrecomputedEncoder(feature="visul").encode(inputs)


def test_npy_with_ids_maps_by_item_id_and_marks_unmatched_missing(tmp_path, inputs):
    np.save(tmp_path / "f.npy", np.array([[1, 1], [2, 2], [np.nan, 3]], np.float32))
    (tmp_path / "ids.txt").write_text("13\n10\n11\n")
    values, available = PrecomputedEncoder(path=str(tmp_path / "f.npy"), ids=str(tmp_path / "ids.txt")).encode(inputs)
    assert available.tolist() == [True, False, False, True]  # 11 has a NaN row, 12 has no row
    np.testing.assert_array_equal(values, [[2, 2], [0, 0], [0, 0], [1, 1]])
    chunked = PrecomputedEncoder(path=str(tmp_path / "f.npy"), ids=str(tmp_path / "ids.txt")).encode(inputs[1:])
    np.testing.assert_array_equal(chunked[0], values[1:])


def test_npy_without_ids_is_row_aligned_and_checks_the_count(tmp_path, inputs):
    np.save(tmp_path / "f.npy", np.arange(8, dtype=np.float64).reshape(4, 2))
    enc = PrecomputedEncoder(path=str(tmp_path / "f.npy"), normalize=True)
    values, available = enc.encode(inputs[2:])
    assert available.all() and values.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(values, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(values[0], np.array([4, 5]) / np.hypot(4, 5), rtol=1e-6)
    np.save(tmp_path / "g.npy", np.zeros((3, 2), np.float32))
    with pytest.raises(EncoderError, match="has 3 rows but the dataset has 4 items; fix: give `ids`"):
        PrecomputedEncoder(path=str(tmp_path / "g.npy")).encode(inputs)


@pytest.mark.parametrize("array, needle", [
    (np.zeros((4, 2), np.int64), "expected a float matrix"),
    (np.zeros(4, np.float32), "expected a 2-d numeric feature matrix"),
])
def test_npy_shape_and_dtype_are_validated(tmp_path, inputs, array, needle):
    np.save(tmp_path / "f.npy", array)
    with pytest.raises(MMBenchError, match=needle):
        PrecomputedEncoder(path=str(tmp_path / "f.npy")).encode(inputs)


def test_pickled_npy_is_refused(tmp_path, inputs):
    np.save(tmp_path / "f.npy", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    with pytest.raises(MMBenchError, match="without pickle"):
        PrecomputedEncoder(path=str(tmp_path / "f.npy")).encode(inputs)


@pytest.mark.parametrize("kwargs, needle", [
    ({}, "exactly one of `feature`"),
    ({"feature": "a", "path": "b"}, "exactly one of `feature`"),
    ({"feature": "a", "ids": "b"}, "`ids` maps the rows of `path`"),
    ({"path": "/nonexistent/f.npy"}, "file not found"),
])
def test_bad_params_are_clear(kwargs, needle):
    with pytest.raises(EncoderError, match=needle):
        PrecomputedEncoder(**kwargs)


def test_identity_tracks_file_content(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((2, 2), np.float32))
    first = PrecomputedEncoder(path=str(tmp_path / "f.npy")).identity()
    np.save(tmp_path / "f.npy", np.ones((2, 2), np.float32))
    assert PrecomputedEncoder(path=str(tmp_path / "f.npy")).identity() != first
    assert PrecomputedEncoder(feature="visual").identity()["source"] == "dataset-feature:visual"


def test_real_tiktok_visual_features():
    data = load_dataset("tiktok", {})
    values, available = PrecomputedEncoder(feature="visual").encode(ItemInputs.of(data))
    assert values.shape == (data.interactions.n_items, 128) and available.all()
    np.testing.assert_array_equal(values, data.features["visual"].values)


def test_nan_rows_are_counted_and_an_all_nan_file_is_an_error(tmp_path, inputs):
    np.save(tmp_path / "f.npy", np.array([[1, 1], [np.inf, 2], [np.nan, 3], [4, 4]], np.float32))
    enc = PrecomputedEncoder(path=str(tmp_path / "f.npy"))
    _, available = enc.encode(inputs)
    assert available.tolist() == [True, False, False, True] and enc.stats["non_finite_rows"] == 2
    np.save(tmp_path / "nan.npy", np.full((4, 2), np.nan, np.float32))
    with pytest.raises(EncoderError, match=r"every one of the 4 rows of .*nan\.npy holds NaN or inf.*fix:"):
        PrecomputedEncoder(path=str(tmp_path / "nan.npy")).encode(inputs)
