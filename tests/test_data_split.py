"""Tests for gluon_safe.data.split_batch, with MXNet's split_and_load as the oracle."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe._compat import gluon, mx, nd
from gluon_safe.data import split_batch, split_sizes

CPUS = [mx.cpu(i) for i in range(8)]


def _batch(num_samples: int, width: int = 3) -> Any:
    return nd.arange(num_samples * width).reshape((num_samples, width))


def _oracle(array: Any, num_devices: int, batch_axis: int = 0) -> list[Any]:
    """MXNet 1.9.1's own split on as many devices as the batch can fill."""
    used = CPUS[: min(array.shape[batch_axis], num_devices)]
    return list(gluon.utils.split_and_load(array, used, batch_axis=batch_axis, even_split=False))


def _assert_same_slices(slices: list[Any], expected: list[Any]) -> None:
    assert len(slices) == len(expected)
    for got, want in zip(slices, expected):
        assert got.context == want.context
        assert got.shape == want.shape
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())


@pytest.mark.parametrize(
    ("num_samples", "num_devices"),
    [(256, 6), (38, 8), (31, 8), (64, 8), (7, 7)],
    ids=["256-over-6", "38-over-8", "31-over-8", "64-over-8", "7-over-7"],
)
def test_split_batch_matches_split_and_load(num_samples: int, num_devices: int) -> None:
    data = _batch(num_samples)

    slices, count = split_batch(data, CPUS[:num_devices])

    assert count == num_samples
    _assert_same_slices(slices, _oracle(data, num_devices))


@pytest.mark.parametrize("num_devices", range(1, 9))
def test_split_batch_device_counts(num_devices: int) -> None:
    data = _batch(37)

    slices, count = split_batch(data, CPUS[:num_devices])

    assert count == 37
    _assert_same_slices(slices, _oracle(data, num_devices))


@pytest.mark.parametrize("num_samples", range(1, 34))
def test_split_batch_every_size_over_four_devices(num_samples: int) -> None:
    data = _batch(num_samples)

    slices, count = split_batch(data, CPUS[:4])

    assert count == num_samples
    assert len(slices) == min(num_samples, 4)
    sizes = [s.shape[0] for s in slices]
    assert max(sizes) - min(sizes) <= 1
    _assert_same_slices(slices, _oracle(data, 4))


def test_split_batch_fewer_samples_than_devices() -> None:
    data = _batch(3)

    slices, count = split_batch(data, CPUS)

    assert count == 3
    assert [s.context for s in slices] == CPUS[:3]
    assert [s.shape for s in slices] == [(1, 3), (1, 3), (1, 3)]


def test_split_and_load_fails_on_short_batch() -> None:
    # The case split_batch exists for: MXNet 1.9.1 builds an empty slice and fails.
    with pytest.raises(mx.base.MXNetError):
        gluon.utils.split_and_load(_batch(3), CPUS[:4], even_split=False)


def test_split_batch_tuple_splits_data_and_labels_alike() -> None:
    data = _batch(10)
    label = nd.arange(10)

    (data_slices, label_slices), count = split_batch((data, label), CPUS[:4])

    assert count == 10
    _assert_same_slices(data_slices, _oracle(data, 4))
    _assert_same_slices(label_slices, _oracle(label, 4))


def test_split_batch_list_returns_tuple() -> None:
    result, count = split_batch([_batch(5), nd.arange(5)], CPUS[:2])

    assert isinstance(result, tuple)
    assert len(result) == 2
    assert count == 5


def test_split_batch_numpy_matches_split_and_load() -> None:
    data = np.arange(30, dtype=np.int64).reshape((10, 3))

    slices, count = split_batch(data, CPUS[:3])

    expected = gluon.utils.split_and_load(data, CPUS[:3], even_split=False)
    assert count == 10
    _assert_same_slices(slices, list(expected))


@pytest.mark.parametrize("batch_axis", [1, -1], ids=["axis-1", "axis-minus-1"])
def test_split_batch_other_axis_matches_split_and_load(batch_axis: int) -> None:
    data = nd.arange(2 * 11).reshape((2, 11))

    slices, count = split_batch(data, CPUS[:3], batch_axis=batch_axis)

    assert count == 11
    _assert_same_slices(slices, _oracle(data, 3, batch_axis=1))


def test_split_batch_single_context() -> None:
    data = _batch(4)

    slices, count = split_batch(data, mx.cpu(1))

    assert count == 4
    _assert_same_slices(slices, [data.as_in_context(mx.cpu(1))])


def test_split_batch_empty_batch_raises() -> None:
    with pytest.raises(ValueError, match=re.escape("the batch is empty (shape (0, 3), 0 samples")):
        split_batch(nd.array(np.zeros((0, 3))), CPUS[:2])


def test_split_batch_empty_numpy_batch_raises() -> None:
    with pytest.raises(ValueError, match=re.escape("the batch is empty (shape (0,)")):
        split_batch(np.zeros(0), CPUS[:2])


def test_split_batch_empty_tuple_raises() -> None:
    with pytest.raises(ValueError, match="batch is an empty tuple"):
        split_batch((), CPUS[:2])


def test_split_batch_mismatched_sizes_raise() -> None:
    pattern = re.escape("different numbers of samples [5, 4] on batch_axis (shapes (5, 3), (4,))")

    with pytest.raises(ValueError, match=pattern):
        split_batch((_batch(5), nd.arange(4)), CPUS[:2])


def test_split_batch_axis_out_of_range_raises() -> None:
    pattern = re.escape("batch_axis=2 is out of range for an array of shape (4, 3)")

    with pytest.raises(ValueError, match=pattern):
        split_batch(_batch(4), CPUS[:2], batch_axis=2)


def test_split_batch_python_numbers_raise() -> None:
    with pytest.raises(TypeError, match=r"batch\[0\] has type float; expected an NDArray"):
        split_batch([1.0, 2.0], CPUS[:2])


def test_split_batch_nested_tuple_raises() -> None:
    with pytest.raises(TypeError, match=r"batch\[0\] has type tuple.*nested tuples"):
        split_batch(((_batch(4), _batch(4)), nd.arange(4)), CPUS[:2])


def test_split_batch_empty_ctx_list_raises() -> None:
    with pytest.raises(ValueError, match="ctx_list is empty"):
        split_batch(_batch(4), [])


def test_split_batch_string_ctx_list_raises() -> None:
    with pytest.raises(TypeError, match=r"ctx_list='gpu:0,1' is not a list of contexts"):
        split_batch(_batch(4), "gpu:0,1")


def test_split_batch_string_in_ctx_list_raises() -> None:
    with pytest.raises(TypeError, match=r"ctx_list contains 'cpu' of type str"):
        split_batch(_batch(4), [mx.cpu(0), "cpu"])


@settings(max_examples=80, deadline=None)
@given(num_samples=st.integers(1, 200), num_devices=st.integers(1, 8))
def test_split_sizes_balanced(num_samples: int, num_devices: int) -> None:
    sizes = split_sizes(num_samples, num_devices)

    assert sum(sizes) == num_samples
    assert len(sizes) == min(num_samples, num_devices)
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)


@settings(max_examples=40, deadline=None)
@given(num_samples=st.integers(1, 70), num_devices=st.integers(1, 8),
       width=st.integers(1, 4))
def test_split_batch_slices_rebuild_batch(num_samples: int, num_devices: int,
                                          width: int) -> None:
    data = _batch(num_samples, width)

    slices, count = split_batch(data, CPUS[:num_devices])

    rebuilt = np.concatenate([s.asnumpy() for s in slices])
    assert count == num_samples
    np.testing.assert_array_equal(rebuilt, data.asnumpy())
    _assert_same_slices(slices, _oracle(data, num_devices))
