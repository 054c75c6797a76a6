"""Tests for gluon_safe.data.DeviceDataLoader: results, options, label checks, shutdown.

Several ``mx.cpu(i)`` contexts stand in for GPUs. Every test runs under a time-out and an
autouse guard that fails it if a thread or child process outlives it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import re
import threading
import time
import traceback
from typing import Any, Iterator

import numpy as np
import pytest
from typing_extensions import Literal

from gluon_safe._compat import NDArray, gluon, mx
from gluon_safe.checks import check_class_indices
from gluon_safe.data import DeviceBatch, DeviceDataLoader, WorkerTimeoutError, resolve_pin_memory
from gluon_safe.encoding import LabelEncoder
from gluon_safe.errors import (
    DeviceError,
    LabelError,
    LabelRangeError,
    NonIntegerLabelError,
    UnseenLabelError,
)

pytestmark = pytest.mark.timeout(120)

CPUS = [mx.cpu(i) for i in range(8)]
STAGING_THREAD = "gluon_safe-DeviceDataLoader-staging"
LastBatch = Literal["keep", "discard", "rollover"]


# --- leak guard ------------------------------------------------------------------------


def _child_pids() -> set[int]:
    """Return the ids of this process's children, zombies included (Linux /proc)."""
    if not os.path.isdir("/proc"):
        return {p.pid for p in multiprocessing.active_children() if p.pid is not None}
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            children.add(int(entry))
    return children


def _leftovers(threads_before: set[threading.Thread],
               children_before: set[int]) -> tuple[list[str], set[int]]:
    threads = [t.name for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    return threads, _child_pids() - children_before


def _wait_for_cleanup(threads_before: set[threading.Thread], children_before: set[int],
                      seconds: float = 10.0) -> tuple[list[str], set[int]]:
    """Poll until no new thread or child is left, or ``seconds`` pass; return what is left."""
    deadline = time.monotonic() + seconds
    while True:
        threads, children = _leftovers(threads_before, children_before)
        if (not threads and not children) or time.monotonic() > deadline:
            return threads, children
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def no_leftover_threads_or_processes() -> Iterator[None]:
    threads_before = set(threading.enumerate())
    children_before = _child_pids()
    yield
    gc.collect()
    threads, children = _wait_for_cleanup(threads_before, children_before)
    assert threads == [], f"threads left behind: {threads}"
    assert children == set(), f"child processes left behind: {children}"


def _staging_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == STAGING_THREAD and t.is_alive()]


# --- datasets and encoders -------------------------------------------------------------


def _dataset(num_samples: int = 38, num_classes: int = 3) -> Any:
    features = np.arange(num_samples * 4, dtype=np.float32).reshape((num_samples, 4))
    labels = (np.arange(num_samples) % num_classes).astype(np.float32)
    return gluon.data.ArrayDataset(features, labels)


def _dataset_with_labels(labels: np.ndarray[Any, Any]) -> Any:
    features = np.arange(len(labels) * 2, dtype=np.float32).reshape((len(labels), 2))
    return gluon.data.ArrayDataset(features, labels.astype(np.float32))


class _FailingDataset:
    """Samples ``(features, 0)``, except one index whose read raises, like a corrupt file."""

    def __init__(self, length: int, bad_index: int) -> None:
        self.length = length
        self.bad_index = bad_index

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray[Any, Any], np.float32]:
        if index == self.bad_index:
            raise RuntimeError(f"sample {index} is corrupt")
        return np.full(2, index, dtype=np.float32), np.float32(0)


class _SlowDataset(_FailingDataset):
    """Samples whose first read takes ``delay`` seconds."""

    def __init__(self, length: int, delay: float) -> None:
        super().__init__(length, bad_index=-1)
        self.delay = delay

    def __getitem__(self, index: int) -> tuple[np.ndarray[Any, Any], np.float32]:
        if index == 0:
            time.sleep(self.delay)
        return super().__getitem__(index)


class _SleepyDataset(_FailingDataset):
    """Samples that each take ``delay`` seconds to read, like a slow network drive."""

    def __init__(self, length: int, delay: float) -> None:
        super().__init__(length, bad_index=-1)
        self.delay = delay

    def __getitem__(self, index: int) -> tuple[np.ndarray[Any, Any], np.float32]:
        time.sleep(self.delay)
        return super().__getitem__(index)


class _CrashingDataset(_FailingDataset):
    """Samples whose read at ``bad_index`` ends the worker process, like a segfault."""

    def __getitem__(self, index: int) -> tuple[np.ndarray[Any, Any], np.float32]:
        if index == self.bad_index:
            os._exit(1)
        return np.full(2, index, dtype=np.float32), np.float32(0)


class _Vocabulary:
    """A fitted encoder: each known class name maps to its index in sorted ``classes_``."""

    def __init__(self, classes: list[str]) -> None:
        self.classes_ = np.array(sorted(classes))

    def transform(self, values: Any) -> np.ndarray[Any, Any]:
        values = np.asarray(values)
        unseen = ~np.isin(values, self.classes_)
        if unseen.any():
            raise UnseenLabelError(
                "labels contain values not seen in fit",
                values=values[unseen].tolist(), positions=np.argwhere(unseen).tolist(),
                expected=f"one of {self.classes_.tolist()}",
            )
        codes: np.ndarray[Any, Any] = np.searchsorted(self.classes_, values)
        return codes


class _OffByOneVocabulary(_Vocabulary):
    """A faulty encoder whose codes run from 1 to len(classes_)."""

    def transform(self, values: Any) -> np.ndarray[Any, Any]:
        return super().transform(values) + 1


def _named_dataset(names: list[str]) -> list[tuple[np.ndarray[Any, Any], str]]:
    return [(np.full(2, i, dtype=np.float32), name) for i, name in enumerate(names)]


# --- reference results -----------------------------------------------------------------


def _reference_epoch(dataset: Any, ctx: list[Any], **options: Any) -> list[tuple[Any, Any]]:
    """The hand-written loop: DataLoader, then split_and_load on as many devices as fit."""
    batches = []
    for data, label in gluon.data.DataLoader(dataset, **options):
        used = ctx[: min(data.shape[0], len(ctx))]
        batches.append((gluon.utils.split_and_load(data, used, even_split=False),
                        gluon.utils.split_and_load(label, used, even_split=False)))
    return batches


def _assert_epoch_equal(batches: list[DeviceBatch], expected: list[tuple[Any, Any]]) -> None:
    assert len(batches) == len(expected)
    for index, (batch, (data, label)) in enumerate(zip(batches, expected)):
        assert batch.batch_index == index
        assert batch.num_samples == sum(d.shape[0] for d in data)
        assert batch.ctx == [d.context for d in data]
        for got_field, want_field in ((batch[0], data), (batch[1], label)):
            assert [a.context for a in got_field] == [a.context for a in want_field]
            for got, want in zip(got_field, want_field):
                np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())


# --- results ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_workers", "thread_pool", "device_prefetch"),
    [(0, False, 0), (0, False, 2), (2, False, 0), (2, False, 2), (2, True, 2)],
    ids=["inline", "staged", "processes-inline", "processes-staged", "threads-staged"],
)
def test_loader_matches_dataloader_and_split_and_load(num_workers: int, thread_pool: bool,
                                                      device_prefetch: int) -> None:
    dataset = _dataset(38)
    ctx = CPUS[:4]

    with DeviceDataLoader(dataset, batch_size=8, num_workers=num_workers,
                          thread_pool=thread_pool, ctx=ctx,
                          device_prefetch=device_prefetch) as loader:
        batches = list(loader)

    _assert_epoch_equal(batches, _reference_epoch(dataset, ctx, batch_size=8))


@pytest.mark.parametrize("num_devices", [1, 3, 8])
def test_loader_device_counts(num_devices: int) -> None:
    dataset = _dataset(31)
    ctx = CPUS[:num_devices]

    with DeviceDataLoader(dataset, batch_size=16, ctx=ctx) as loader:
        batches = list(loader)

    _assert_epoch_equal(batches, _reference_epoch(dataset, ctx, batch_size=16))
    assert [b.num_samples for b in batches] == [16, 15]


def test_loader_short_batch_uses_fewer_devices() -> None:
    with DeviceDataLoader(_dataset(11), batch_size=8, ctx=CPUS[:4]) as loader:
        batches = list(loader)

    data, label = batches[-1]
    assert batches[-1].num_samples == 3
    assert batches[-1].ctx == CPUS[:3]
    assert [d.shape[0] for d in data] == [1, 1, 1]
    assert [lab.context for lab in label] == CPUS[:3]


@pytest.mark.parametrize("last_batch", ["keep", "discard", "rollover"])
def test_loader_last_batch_like_dataloader(last_batch: LastBatch) -> None:
    dataset = _dataset(38)
    reference = gluon.data.DataLoader(dataset, batch_size=8, last_batch=last_batch)
    expected = [[d.shape[0] for d, _ in reference] for _ in range(2)]

    with DeviceDataLoader(dataset, batch_size=8, last_batch=last_batch,
                          ctx=CPUS[:2]) as loader:
        sizes = [[b.num_samples for b in loader] for _ in range(2)]

    assert sizes == expected


def test_loader_indices_follow_shuffled_sampler() -> None:
    dataset = _dataset(38)
    features = np.arange(38 * 4, dtype=np.float32).reshape((38, 4))

    with DeviceDataLoader(dataset, batch_size=8, shuffle=True, ctx=CPUS[:3]) as loader:
        batches = list(loader)

    seen = np.concatenate([b.indices for b in batches])
    assert sorted(seen.tolist()) == list(range(38))
    for batch in batches:
        rows = np.concatenate([d.asnumpy() for d in batch.data])
        np.testing.assert_array_equal(rows, features[batch.indices])


def test_loader_batch_sampler() -> None:
    batch_sampler = gluon.data.BatchSampler(gluon.data.SequentialSampler(10, start=0), 4)

    with DeviceDataLoader(_dataset(38), batch_sampler=batch_sampler, ctx=CPUS[:2]) as loader:
        indices = [np.asarray(b.indices).tolist() for b in loader]

    assert indices == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_loader_pinned_memory_keeps_values() -> None:
    dataset = _dataset(20)

    with DeviceDataLoader(dataset, batch_size=8, pin_memory=True, ctx=CPUS[:2]) as loader:
        batches = list(loader)

    assert loader.pin_memory is True
    _assert_epoch_equal(batches, _reference_epoch(dataset, CPUS[:2], batch_size=8))


def test_loader_wraps_existing_dataloader() -> None:
    dataset = _dataset(21)
    inner = gluon.data.DataLoader(dataset, batch_size=5)

    with DeviceDataLoader(inner, ctx="cpu:0,1,2") as loader:
        batches = list(loader)
        num_batches = len(loader)

    _assert_epoch_equal(batches, _reference_epoch(dataset, CPUS[:3], batch_size=5))
    assert all(b.indices is None for b in batches)
    assert num_batches == len(inner)
    assert loader.pin_memory is None


def test_loader_wrapped_dataloader_rejects_loader_options() -> None:
    inner = gluon.data.DataLoader(_dataset(21), batch_size=5)

    with pytest.raises(ValueError, match="DataLoader options batch_size, shuffle were given"):
        DeviceDataLoader(inner, batch_size=5, shuffle=True, ctx=CPUS[:2])


def test_loader_single_field_dataset() -> None:
    dataset = gluon.data.ArrayDataset(np.arange(10, dtype=np.float32))

    with DeviceDataLoader(dataset, batch_size=4, ctx=CPUS[:2]) as loader:
        batches = list(loader)

    assert [len(b) for b in batches] == [1, 1, 1]
    assert [d.shape for d in batches[0].data] == [(2,), (2,)]
    with pytest.raises(AttributeError, match="this batch has 1 field and no label"):
        batches[0].label  # noqa: B018


def test_loader_len_matches_dataloader() -> None:
    with DeviceDataLoader(_dataset(38), batch_size=8, last_batch="discard",
                          ctx=CPUS[:2]) as loader:
        assert len(loader) == 4


def test_loader_sampler_property() -> None:
    sampler = gluon.data.SequentialSampler(8)

    with DeviceDataLoader(_dataset(8), batch_size=4, sampler=sampler, ctx=CPUS[:2]) as loader:
        assert loader.sampler is sampler
    with DeviceDataLoader(gluon.data.DataLoader(_dataset(8), batch_size=4),
                          ctx=CPUS[:2]) as wrapped:
        assert wrapped.sampler is None


def test_loader_default_ctx_is_auto() -> None:
    num_gpus = mx.context.num_gpus()
    expected = [mx.gpu(i) for i in range(num_gpus)] if num_gpus else [mx.cpu()]

    with DeviceDataLoader(_dataset(8), batch_size=4) as loader:
        assert loader.ctx == expected


def test_device_batch_pickles() -> None:
    with DeviceDataLoader(_dataset(6), batch_size=6, ctx=CPUS[:2]) as loader:
        batch = next(iter(loader))

    copy = pickle.loads(pickle.dumps(batch))
    assert copy.num_samples == 6
    assert copy.batch_index == 0
    assert batch.indices is not None
    np.testing.assert_array_equal(copy.indices, batch.indices)
    np.testing.assert_array_equal(copy[0][1].asnumpy(), batch[0][1].asnumpy())


# --- options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "pattern"),
    [
        ({"num_workers": -1}, ValueError, r"num_workers=-1 is invalid; expected an int >= 0"),
        ({"timeout": 0}, ValueError, r"timeout=0 is invalid; expected seconds > 0"),
        ({"timeout": "60"}, TypeError, r"timeout='60' is not a number"),
        ({"batch_size": 0}, ValueError, r"batch_size=0 is invalid"),
        ({"last_batch": "drop"}, ValueError, r"last_batch='drop' is not an option; expected "
                                             r"one of 'keep', 'discard', 'rollover'"),
        ({"prefetch": -2}, ValueError, r"prefetch=-2 is invalid"),
        ({"pin_device_id": -1}, ValueError, r"pin_device_id=-1 is invalid"),
        ({"thread_pool": "yes"}, TypeError, r"thread_pool='yes' has type str"),
        ({"pin_memory": 1}, TypeError, r"pin_memory=1 has type int"),
        ({"device_prefetch": -1}, ValueError, r"device_prefetch=-1 is invalid"),
        ({"num_classes": 0}, ValueError, r"num_classes=0 is invalid; expected an int >= 1"),
        ({"num_classes": 2.0}, TypeError, r"num_classes=2\.0 has type float"),
        ({"ignore_label": "pad"}, TypeError, r"ignore_label='pad' is not a number"),
        ({"encoder": object()}, TypeError, r"encoder=<object object at .*> has no transform"),
        ({"ctx": "tpu"}, DeviceError, r"devices\(spec='tpu'\) is not a device specification"),
        ({"batch_size": None}, ValueError, r"batch_size must be specified unless batch_sampler"),
        ({"batch_sampler": gluon.data.BatchSampler(gluon.data.SequentialSampler(8), 4)},
         ValueError, r"^batch_size must not be specified if batch_sampler is specified"),
    ],
    ids=["negative-workers", "zero-timeout", "str-timeout", "zero-batch", "last-batch",
         "negative-prefetch", "negative-pin-device", "str-thread-pool", "int-pin-memory",
         "negative-device-prefetch", "zero-classes", "float-classes", "str-ignore-label",
         "no-transform", "unknown-ctx", "no-batch-size", "batch-sampler-and-size"],
)
def test_loader_invalid_option_raises(options: dict[str, Any], error: type[Exception],
                                      pattern: str) -> None:
    arguments: dict[str, Any] = {"batch_size": 4, "ctx": CPUS[:2], **options}

    with pytest.raises(error, match=pattern):
        DeviceDataLoader(_dataset(8), **arguments)


def test_loader_shuffle_with_sampler_raises_like_mxnet() -> None:
    sampler = gluon.data.SequentialSampler(8)

    with pytest.raises(ValueError, match="shuffle must not be specified if sampler is"):
        DeviceDataLoader(_dataset(8), batch_size=4, shuffle=True, sampler=sampler, ctx=CPUS[:2])


@pytest.mark.skipif(mx.context.num_gpus() > 0, reason="this machine has a GPU")
def test_loader_missing_gpu_raises() -> None:
    with pytest.raises(DeviceError, match=r"gpu\(0\) does not exist"):
        DeviceDataLoader(_dataset(8), batch_size=4, ctx="gpu:0")


@pytest.mark.parametrize(
    ("ctx", "pin_memory", "pin_device_id", "expected"),
    [
        ([mx.cpu(0)], None, None, (False, 0)),
        ([mx.cpu(0), mx.cpu(1)], None, None, (False, 0)),
        ([mx.gpu(0)], None, None, (True, 0)),
        ([mx.gpu(1), mx.gpu(0)], None, None, (True, 1)),
        ([mx.cpu(0), mx.gpu(2)], None, None, (True, 2)),
        ([mx.gpu(0)], False, None, (False, 0)),
        ([mx.cpu(0)], True, 3, (True, 3)),
        ([mx.gpu(1)], None, 0, (True, 0)),
    ],
    ids=["cpu", "cpus", "gpu", "first-gpu", "mixed", "gpu-off", "cpu-forced", "gpu-device-set"],
)
def test_resolve_pin_memory(ctx: list[Any], pin_memory: Any, pin_device_id: Any,
                            expected: tuple[bool, int]) -> None:
    assert resolve_pin_memory(pin_memory, pin_device_id, ctx) == expected


def test_loader_cpu_ctx_does_not_pin() -> None:
    with DeviceDataLoader(_dataset(8), batch_size=4, ctx=CPUS[:2]) as loader:
        assert (loader.pin_memory, loader.pin_device_id) == (False, 0)


# --- label checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_workers", "device_prefetch"), [(0, 0), (0, 2), (2, 2)],
    ids=["inline", "staged", "processes"],
)
def test_loader_one_based_label_names_batch_and_sample(num_workers: int,
                                                       device_prefetch: int) -> None:
    labels = np.arange(40) % 3
    labels[13] = 3
    loader = DeviceDataLoader(_dataset_with_labels(labels), batch_size=8,
                              num_workers=num_workers, device_prefetch=device_prefetch,
                              ctx=CPUS[:2], num_classes=3)

    with loader, pytest.raises(LabelRangeError, match=r"^batch 1: .* Dataset indices of the "
                                                      r"samples shown: 13\.$") as info:
        for _ in loader:
            pass

    assert info.value.batch == 1
    assert info.value.positions == ((5,),)
    assert info.value.sample_indices == (13,)  # type: ignore[attr-defined]


def test_loader_label_error_message_comes_from_checks() -> None:
    labels = np.arange(16) % 3 + 1

    with DeviceDataLoader(_dataset_with_labels(labels), batch_size=8, ctx=CPUS[:2],
                          num_classes=3) as loader, pytest.raises(LabelError) as info:
        list(loader)

    with pytest.raises(LabelRangeError) as oracle:
        check_class_indices(labels[:8].astype(np.float32), 3, batch=0)
    assert str(info.value).startswith(str(oracle.value))
    assert "look 1-based" in str(info.value)


def test_loader_normalized_labels_raise_on_first_batch() -> None:
    labels = (np.arange(16) % 3) / 2.0

    with DeviceDataLoader(_dataset_with_labels(labels), batch_size=8, ctx=CPUS[:2],
                          num_classes=3) as loader, \
            pytest.raises(NonIntegerLabelError, match=r"^batch 0: labels contain non-integer "
                                                      r"values\. Received: 0\.5 at labels\[1\]"):
        list(loader)


def test_loader_shuffled_label_error_points_at_bad_samples() -> None:
    labels = np.arange(64) % 4
    bad = [5, 17, 40, 41, 63]
    labels[bad] = 7

    with DeviceDataLoader(_dataset_with_labels(labels), batch_size=16, shuffle=True,
                          ctx=CPUS[:2], num_classes=4) as loader, \
            pytest.raises(LabelRangeError, match=r"class indices >= num_classes=4") as info:
        list(loader)

    found = info.value.sample_indices  # type: ignore[attr-defined]
    assert found
    assert set(found) <= set(bad)


def test_loader_ignore_label_exempts_padding() -> None:
    labels = np.arange(16) % 3
    labels[[2, 9]] = -1

    with DeviceDataLoader(_dataset_with_labels(labels), batch_size=8, ctx=CPUS[:2],
                          num_classes=3, ignore_label=-1) as loader:
        assert len(list(loader)) == 2


def test_loader_ignore_label_alone_rejects_other_negatives() -> None:
    labels = np.arange(16) % 3
    labels[[2, 9]] = -1
    labels[11] = -2

    with DeviceDataLoader(_dataset_with_labels(labels), batch_size=8, ctx=CPUS[:2],
                          ignore_label=-1) as loader, \
            pytest.raises(LabelRangeError, match=r"^batch 1: labels contain negative class "
                                                 r"indices\. Received: -2\.0 at labels\[3\]"):
        list(loader)


def test_loader_wrapped_label_error_names_batch_only() -> None:
    labels = np.arange(16) % 3
    labels[12] = 5
    inner = gluon.data.DataLoader(_dataset_with_labels(labels), batch_size=8)

    with DeviceDataLoader(inner, ctx=CPUS[:2], num_classes=3) as loader, \
            pytest.raises(LabelRangeError, match=r"^batch 1: ") as info:
        list(loader)

    assert "Dataset indices" not in str(info.value)
    assert info.value.sample_indices == ()  # type: ignore[attr-defined]


def test_loader_checks_labels_before_device_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    copies = []
    original = NDArray.as_in_context

    def counting_as_in_context(self: Any, context: Any) -> Any:
        copies.append(context)
        return original(self, context)

    monkeypatch.setattr(NDArray, "as_in_context", counting_as_in_context)
    labels = np.arange(16) % 3
    labels[10] = 3

    with DeviceDataLoader(_dataset_with_labels(labels), batch_size=8, ctx=CPUS[:2],
                          device_prefetch=0, num_classes=3) as loader:
        batches = iter(loader)
        next(batches)
        copies_after_first = len(copies)
        with pytest.raises(LabelRangeError, match=r"^batch 1: "):
            next(batches)

    assert copies_after_first == 4
    assert len(copies) == copies_after_first


def test_loader_without_label_options_skips_checks() -> None:
    labels = np.arange(8) / 8.0

    with DeviceDataLoader(_dataset_with_labels(labels), batch_size=4, ctx=CPUS[:2]) as loader:
        assert len(list(loader)) == 2


def test_loader_label_check_without_label_field_raises() -> None:
    dataset = gluon.data.ArrayDataset(np.arange(8, dtype=np.float32))

    with DeviceDataLoader(dataset, batch_size=4, ctx=CPUS[:2], num_classes=3) as loader, \
            pytest.raises(ValueError, match="batch 0 has 1 field, so there is no label"):
        list(loader)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_encoder_maps_string_labels(num_workers: int) -> None:
    names = ["cat", "dog", "eel", "dog", "cat", "eel", "eel"]
    encoder = _Vocabulary(["dog", "cat", "eel"])

    with DeviceDataLoader(_named_dataset(names), batch_size=3, num_workers=num_workers,
                          ctx=CPUS[:2], encoder=encoder) as loader:
        codes = np.concatenate([lab.asnumpy() for b in loader for lab in b.label])

    np.testing.assert_array_equal(codes, encoder.transform(names))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_encoder_unseen_label_names_batch_and_sample(num_workers: int) -> None:
    names = ["cat", "dog", "cat", "dog", "cat", "emu", "dog"]

    with DeviceDataLoader(_named_dataset(names), batch_size=3, num_workers=num_workers,
                          ctx=CPUS[:2], encoder=_Vocabulary(["cat", "dog"])) as loader, \
            pytest.raises(UnseenLabelError, match=r"^batch 1: labels contain values not seen "
                                                  r"in fit\. Received: 'emu' at labels\[2\]") \
            as info:
        list(loader)

    assert info.value.sample_indices == (5,)  # type: ignore[attr-defined]


def test_loader_encoder_classes_set_num_classes() -> None:
    names = ["cat", "dog", "cat", "dog"]

    with DeviceDataLoader(_named_dataset(names), batch_size=2, ctx=CPUS[:2],
                          encoder=_OffByOneVocabulary(["cat", "dog"])) as loader, \
            pytest.raises(LabelRangeError, match=r"class indices >= num_classes=2"):
        list(loader)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_label_encoder_maps_strings(num_workers: int) -> None:
    names = ["cat", "dog", "eel", "dog", "cat", "eel", "eel"]
    encoder = LabelEncoder().fit(names)

    with DeviceDataLoader(_named_dataset(names), batch_size=3, num_workers=num_workers,
                          ctx=CPUS[:2], encoder=encoder) as loader:
        codes = np.concatenate([lab.asnumpy() for b in loader for lab in b.label])

    np.testing.assert_array_equal(codes, encoder.transform(names))


def test_loader_label_encoder_options_set_check() -> None:
    encoder = LabelEncoder(unseen="ignore", ignore_label=-1).fit(["cat", "dog"])

    with DeviceDataLoader(_named_dataset(["cat", "emu", "dog"]), batch_size=3, ctx=CPUS[:2],
                          encoder=encoder) as loader:
        codes = np.concatenate([lab.asnumpy() for b in loader for lab in b.label])

    assert loader.encoder is encoder
    assert loader.num_classes == 2
    assert loader.ignore_label == -1
    np.testing.assert_array_equal(codes, [0, -1, 1])


def test_loader_unfitted_label_encoder_raises() -> None:
    with pytest.raises(RuntimeError, match="This LabelEncoder is not fitted yet"):
        DeviceDataLoader(_named_dataset(["cat"]), batch_size=1, ctx=CPUS[:1],
                         encoder=LabelEncoder())


def test_loader_wrapped_dataloader_encodes_on_host() -> None:
    raw = np.array([1, 2, 3, 2, 1, 3], dtype=np.float32)
    dataset = gluon.data.ArrayDataset(np.zeros((6, 2), dtype=np.float32), raw)
    inner = gluon.data.DataLoader(dataset, batch_size=4)

    class _Shift:
        def transform(self, values: Any) -> np.ndarray[Any, Any]:
            return np.asarray(values) - 1

    with DeviceDataLoader(inner, ctx=CPUS[:2], num_classes=3, encoder=_Shift()) as loader:
        codes = np.concatenate([lab.asnumpy() for b in loader for lab in b.label])

    np.testing.assert_array_equal(codes, raw - 1)


# --- shutdown --------------------------------------------------------------------------


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_break_stops_staging_thread(num_workers: int) -> None:
    children_before = _child_pids()
    loader = DeviceDataLoader(_dataset(64), batch_size=4, num_workers=num_workers,
                              ctx=CPUS[:2], device_prefetch=2)

    for _ in loader:
        assert len(_staging_threads()) == 1
        break

    assert _staging_threads() == []
    loader.close()
    assert _child_pids() - children_before == set()


def test_loader_caller_exception_stops_staging_thread() -> None:
    with DeviceDataLoader(_dataset(64), batch_size=4, ctx=CPUS[:2]) as loader:
        with pytest.raises(KeyError, match="failed in the loop body"):
            for _ in loader:
                raise KeyError("failed in the loop body")

        assert _staging_threads() == []


@pytest.mark.parametrize(
    ("num_workers", "thread_pool", "device_prefetch"),
    [(0, False, 2), (2, False, 2), (2, True, 0)],
    ids=["staging-thread", "processes", "threads"],
)
def test_loader_worker_exception_keeps_traceback(num_workers: int, thread_pool: bool,
                                                 device_prefetch: int) -> None:
    with DeviceDataLoader(_FailingDataset(40, bad_index=11), batch_size=4,
                          num_workers=num_workers, thread_pool=thread_pool,
                          device_prefetch=device_prefetch, ctx=CPUS[:2]) as loader:
        with pytest.raises(RuntimeError, match="sample 11 is corrupt") as info:
            list(loader)

        if num_workers and not thread_pool:
            # multiprocessing attaches the worker's formatted traceback as the cause.
            origin = str(info.value.__cause__)
        else:
            origin = "".join(traceback.format_tb(info.value.__traceback__))
        assert "test_data_loader.py" in origin
        assert 'raise RuntimeError(f"sample {index} is corrupt")' in origin

        # The next epoch gets fresh workers and fails the same way, not on a dead pool.
        with pytest.raises(RuntimeError, match="sample 11 is corrupt"):
            list(loader)
        assert _staging_threads() == []


@pytest.mark.slow
def test_loader_worker_timeout_says_what_to_try() -> None:
    children_before = _child_pids()
    loader = DeviceDataLoader(_SlowDataset(8, delay=30), batch_size=4, num_workers=1,
                              timeout=1, ctx=CPUS[:2])

    with pytest.raises(WorkerTimeoutError) as info:
        list(loader)

    message = str(info.value)
    assert re.search(r"timed out after 1 s while loading batch 0 \(timeout=1, num_workers=1, "
                     r"thread_pool=False\)", message)
    assert "/dev/shm" in message
    assert "a larger timeout" in message
    assert "thread_pool=True" in message
    assert isinstance(info.value, multiprocessing.TimeoutError)
    assert isinstance(info.value, TimeoutError)
    # The stuck worker is terminated at once, not when the loader is collected.
    assert _child_pids() - children_before == set()
    loader.close()


@pytest.mark.slow
def test_loader_crashed_worker_times_out() -> None:
    children_before = _child_pids()

    with DeviceDataLoader(_CrashingDataset(8, bad_index=2), batch_size=4, num_workers=2,
                          timeout=2, ctx=CPUS[:2]) as loader:
        with pytest.raises(WorkerTimeoutError, match=r"while loading batch 0"):
            list(loader)

    assert _child_pids() - children_before == set()


def test_loader_garbage_collection_stops_everything() -> None:
    threads_before = set(threading.enumerate())
    children_before = _child_pids()
    loader = DeviceDataLoader(_dataset(64), batch_size=4, num_workers=2, ctx=CPUS[:2])
    batches = iter(loader)
    next(batches)
    assert len(_staging_threads()) == 1

    del batches, loader
    gc.collect()

    assert _wait_for_cleanup(threads_before, children_before) == ([], set())


def test_loader_close_stops_running_epoch() -> None:
    loader = DeviceDataLoader(_dataset(64), batch_size=4, num_workers=2, ctx=CPUS[:2])
    batches = iter(loader)
    next(batches)

    loader.close()

    assert _staging_threads() == []
    assert list(batches) == []
    with pytest.raises(RuntimeError, match="this DeviceDataLoader is closed"):
        iter(loader)
    with pytest.raises(RuntimeError, match="this DeviceDataLoader is closed"):
        len(loader)
    loader.close()


def test_loader_close_from_other_thread_ends_loop() -> None:
    loader = DeviceDataLoader(_SleepyDataset(100, delay=0.02), batch_size=2, ctx=CPUS[:2],
                              device_prefetch=1)
    num_batches = len(loader)
    closer = threading.Timer(0.3, loader.close)
    closer.start()

    count = sum(1 for _ in loader)

    closer.join()
    assert 0 < count < num_batches
    assert _staging_threads() == []


def test_loader_auto_reload_epochs() -> None:
    dataset = _dataset(20)

    with DeviceDataLoader(dataset, batch_size=8, num_workers=2, auto_reload=True,
                          ctx=CPUS[:2]) as loader:
        epochs = [[b.indices.tolist() for b in loader if b.indices is not None]
                  for _ in range(2)]

    assert epochs[0] == epochs[1] == [list(range(0, 8)), list(range(8, 16)),
                                      list(range(16, 20))]


def test_loader_closed_after_with_block() -> None:
    with DeviceDataLoader(_dataset(8), batch_size=4, num_workers=2, ctx=CPUS[:2]) as loader:
        assert len(list(loader)) == 2

    with pytest.raises(RuntimeError, match="is closed"):
        iter(loader)


def test_loader_epochs_reuse_workers() -> None:
    with DeviceDataLoader(_dataset(16), batch_size=4, num_workers=2, ctx=CPUS[:2]) as loader:
        first = list(loader)
        children = _child_pids()
        second = list(loader)

        assert _child_pids() == children
    assert [b.num_samples for b in first] == [b.num_samples for b in second]

