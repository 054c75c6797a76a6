"""Tests for gluon_safe.data.ShardSampler."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gluon_safe._compat import gluon
from gluon_safe.data import ShardSampler


def _shards(length: int, num_shards: int, **options: object) -> list[list[int]]:
    return [list(ShardSampler(length, num_shards, i, **options))  # type: ignore[arg-type]
            for i in range(num_shards)]


@settings(max_examples=80, deadline=None)
@given(length=st.integers(1, 150), num_shards=st.integers(1, 9), shuffle=st.booleans(),
       seed=st.integers(0, 2**31), epoch=st.integers(0, 50))
def test_shard_sampler_padded_shards_cover_dataset(length: int, num_shards: int,
                                                   shuffle: bool, seed: int,
                                                   epoch: int) -> None:
    samplers = [ShardSampler(length, num_shards, i, shuffle=shuffle, seed=seed)
                for i in range(num_shards)]
    for sampler in samplers:
        sampler.set_epoch(epoch)
    shards = [list(s) for s in samplers]

    per_shard = math.ceil(length / num_shards)
    assert [len(shard) for shard in shards] == [per_shard] * num_shards
    assert [len(s) for s in samplers] == [per_shard] * num_shards
    counts = collections.Counter(i for shard in shards for i in shard)
    assert set(counts) == set(range(length))
    # Only the wrap-around padding repeats samples.
    repeats = sum(c - 1 for c in counts.values())
    assert repeats == per_shard * num_shards - length


@settings(max_examples=80, deadline=None)
@given(num_shards=st.integers(1, 9), extra=st.integers(0, 150), shuffle=st.booleans(),
       seed=st.integers(0, 2**31))
def test_shard_sampler_dropped_remainder_disjoint(num_shards: int, extra: int, shuffle: bool,
                                                  seed: int) -> None:
    length = num_shards + extra
    shards = _shards(length, num_shards, shuffle=shuffle, seed=seed, drop_remainder=True)

    per_shard = length // num_shards
    assert [len(shard) for shard in shards] == [per_shard] * num_shards
    every = [i for shard in shards for i in shard]
    assert len(every) == len(set(every)) == per_shard * num_shards
    assert set(every) <= set(range(length))


def test_shard_sampler_unshuffled_order() -> None:
    assert _shards(10, 3, shuffle=False) == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]


def test_shard_sampler_unshuffled_drop_remainder() -> None:
    assert _shards(10, 3, shuffle=False, drop_remainder=True) == [[0, 3, 6], [1, 4, 7],
                                                                   [2, 5, 8]]


def test_shard_sampler_more_shards_than_samples_wraps() -> None:
    shards = _shards(2, 5, shuffle=False)

    assert shards == [[0], [1], [0], [1], [0]]


def test_shard_sampler_empty_dataset() -> None:
    sampler = ShardSampler(0, 4, 1)

    assert len(sampler) == 0
    assert list(sampler) == []


def test_shard_sampler_set_epoch_is_deterministic() -> None:
    first = ShardSampler(100, 4, 2, seed=7)
    second = ShardSampler(100, 4, 2, seed=7)
    first.set_epoch(3)
    second.set_epoch(3)

    assert list(first) == list(second)
    assert list(first) == list(first)
    assert first.epoch == 3


def test_shard_sampler_new_epoch_new_order() -> None:
    sampler = ShardSampler(100, 4, 0, seed=7)
    orders = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        orders.append(list(sampler))

    assert orders[0] != orders[1]
    assert orders[1] != orders[2]
    assert orders[0] != orders[2]


def test_shard_sampler_seed_changes_order() -> None:
    assert list(ShardSampler(100, 2, 0, seed=1)) != list(ShardSampler(100, 2, 0, seed=2))


def test_shard_sampler_shuffled_order_is_permutation_of_seed() -> None:
    rng = np.random.default_rng([5, 2])
    expected = rng.permutation(12)[1::3].tolist()
    sampler = ShardSampler(12, 3, 1, seed=5)
    sampler.set_epoch(2)

    assert list(sampler) == expected


def test_shard_sampler_equal_batch_counts_in_dataloader() -> None:
    dataset = gluon.data.ArrayDataset(np.arange(103, dtype=np.float32))
    batch_counts = []
    seen = []
    for shard in range(4):
        sampler = ShardSampler(len(dataset), 4, shard, seed=3)
        loader = gluon.data.DataLoader(dataset, batch_size=8, sampler=sampler)
        batches = [batch.asnumpy() for batch in loader]
        batch_counts.append(len(batches))
        seen.extend(np.concatenate(batches).astype(int).tolist())

    assert batch_counts == [4, 4, 4, 4]
    assert set(seen) == set(range(103))


def test_shard_sampler_is_gluon_sampler() -> None:
    assert isinstance(ShardSampler(4, 2, 0), gluon.data.Sampler)


def test_shard_sampler_repr() -> None:
    text = repr(ShardSampler(10, 2, 1, shuffle=False, seed=4))

    assert text == ("ShardSampler(length=10, num_shards=2, shard_index=1, shuffle=False, "
                    "seed=4, drop_remainder=False)")


@pytest.mark.parametrize(
    ("args", "options", "error", "pattern"),
    [
        ((-1, 2, 0), {}, ValueError, r"length=-1 is invalid; expected an int >= 0"),
        ((10, 0, 0), {}, ValueError, r"num_shards=0 is invalid; expected an int >= 1"),
        ((10, 3, 3), {}, ValueError, r"shard_index=3 is out of range for num_shards=3"),
        ((10, 3, -1), {}, ValueError, r"shard_index=-1 is invalid"),
        ((10, 2, 0), {"seed": -5}, ValueError, r"seed=-5 is invalid"),
        ((10.0, 2, 0), {}, TypeError, r"length=10\.0 has type float; expected an int"),
        ((True, 2, 0), {}, TypeError, r"length=True has type bool"),
        ((10, 2, 0), {"shuffle": "yes"}, TypeError, r"shuffle='yes' has type str"),
        ((10, 2, 0), {"drop_remainder": 1}, TypeError, r"drop_remainder=1 has type int"),
        ((3, 4, 0), {"drop_remainder": True}, ValueError,
         r"drop_remainder=True with length=3 < num_shards=4 leaves every shard empty"),
    ],
    ids=["negative-length", "no-shards", "index-too-large", "negative-index",
         "negative-seed", "float-length", "bool-length", "str-shuffle", "int-flag",
         "drop-everything"],
)
def test_shard_sampler_invalid_arguments_raise(args: tuple[object, ...],
                                               options: dict[str, object],
                                               error: type[Exception], pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        ShardSampler(*args, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("epoch", "error", "pattern"),
    [(-1, ValueError, r"epoch=-1 is invalid"), (1.5, TypeError, r"epoch=1\.5 has type float")],
    ids=["negative", "float"],
)
def test_shard_sampler_set_epoch_invalid_raises(epoch: object, error: type[Exception],
                                                pattern: str) -> None:
    sampler = ShardSampler(10, 2, 0)

    with pytest.raises(error, match=pattern):
        sampler.set_epoch(epoch)  # type: ignore[arg-type]
