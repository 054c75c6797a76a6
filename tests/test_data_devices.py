"""Tests for gluon_safe.data device selection."""

from __future__ import annotations

import re

import pytest

from gluon_safe._compat import mx
from gluon_safe.data import devices, select_devices
from gluon_safe.errors import DeviceError, GluonSafeError


def test_devices_auto_matches_visible_gpus() -> None:
    num_gpus = mx.context.num_gpus()
    expected = [mx.gpu(i) for i in range(num_gpus)] if num_gpus else [mx.cpu()]

    assert devices() == expected
    assert devices("auto") == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("cpu", [mx.cpu(0)]),
        ("CPU", [mx.cpu(0)]),
        (" cpu : 0 , 1 ", [mx.cpu(0), mx.cpu(1)]),
        ("cpu:3", [mx.cpu(3)]),
        ("cpu(2)", [mx.cpu(2)]),
        (mx.cpu(1), [mx.cpu(1)]),
        ([mx.cpu(0), "cpu:1", " CPU(2) "], [mx.cpu(0), mx.cpu(1), mx.cpu(2)]),
    ],
    ids=["cpu", "upper-case", "spaces", "one-id", "context-repr", "context", "mixed-list"],
)
def test_devices_cpu_forms(spec: object, expected: list[object]) -> None:
    assert devices(spec) == expected


@pytest.mark.parametrize(
    ("spec", "expected_ids"),
    [
        ("auto", [0, 1, 2, 3]),
        ("gpu", [0, 1, 2, 3]),
        ("gpu:0,2", [0, 2]),
        ("GPU: 3, 1", [3, 1]),
        ("gpu(1)", [1]),
        (2, [0, 1]),
        (4, [0, 1, 2, 3]),
        (["gpu:3", "gpu(0)"], [3, 0]),
    ],
    ids=["auto", "gpu", "ids", "ids-spaces", "context-repr", "count-2", "count-all", "list"],
)
def test_select_devices_gpu_forms(spec: object, expected_ids: list[int]) -> None:
    selected = select_devices(spec, num_gpus=4)

    assert selected == [mx.gpu(i) for i in expected_ids]


def test_select_devices_list_of_contexts_keeps_order() -> None:
    spec = [mx.gpu(1), mx.cpu(0), mx.gpu(0)]

    assert select_devices(spec, num_gpus=2) == spec


@pytest.mark.parametrize(
    ("spec", "missing"),
    [("gpu:0,5", "gpu(5)"), (5, "gpu(4)"), ([mx.gpu(7)], "gpu(7)"), ("gpu(4)", "gpu(4)")],
    ids=["ids", "count", "context", "context-repr"],
)
def test_select_devices_missing_gpu_lists_visible(spec: object, missing: str) -> None:
    visible = "gpu(0), gpu(1), gpu(2), gpu(3)"
    pattern = re.escape(f"{missing} does not exist: 4 GPUs are visible ({visible})")

    with pytest.raises(DeviceError, match=pattern):
        select_devices(spec, num_gpus=4)


def test_select_devices_one_gpu_message_is_singular() -> None:
    with pytest.raises(DeviceError, match=re.escape("1 GPU is visible (gpu(0))")):
        select_devices("gpu:1", num_gpus=1)


def test_select_devices_no_gpu_explains_why() -> None:
    has_cuda = mx.runtime.Features().is_enabled("CUDA")
    reason = "no CUDA support" if not has_cuda else "CUDA_VISIBLE_DEVICES"

    with pytest.raises(DeviceError, match=r"gpu\(0\) does not exist: no GPU is visible") as info:
        select_devices("gpu:0", num_gpus=0)

    assert reason in str(info.value)
    assert "Use 'cpu' or 'auto'" in str(info.value)


def test_select_devices_all_gpus_without_gpu_raises() -> None:
    with pytest.raises(DeviceError, match=r"devices\(spec='gpu'\) asks for every GPU, but no GPU"):
        select_devices("gpu", num_gpus=0)


def test_select_devices_auto_without_gpu_is_cpu() -> None:
    assert select_devices("auto", num_gpus=0) == [mx.cpu()]


@pytest.mark.skipif(mx.context.num_gpus() > 0, reason="this machine has a GPU")
def test_devices_gpu_on_cpu_machine_raises() -> None:
    with pytest.raises(DeviceError, match=r"gpu\(0\) does not exist"):
        devices("gpu:0")


@pytest.mark.parametrize(
    "spec", ["tpu", "gpu:a", "gpu:0;1", "", "auto:1", "gpu:", "cuda:0"],
    ids=["unknown-device", "non-numeric-id", "semicolon", "empty", "auto-with-id",
         "missing-ids", "cuda"],
)
def test_devices_invalid_string_raises(spec: str) -> None:
    with pytest.raises(DeviceError, match=re.escape(f"devices(spec={spec!r}) is not a device")):
        devices(spec)


@pytest.mark.parametrize("count", [0, -1])
def test_devices_non_positive_count_raises(count: int) -> None:
    with pytest.raises(DeviceError, match=rf"devices\(spec={count}\) asks for {count} GPUs"):
        devices(count)


def test_devices_bool_raises() -> None:
    with pytest.raises(DeviceError, match=r"devices\(spec=True\) is not a device specification"):
        devices(True)


def test_devices_float_raises() -> None:
    with pytest.raises(DeviceError, match=r"devices\(spec=1\.5\) has type float"):
        devices(1.5)


def test_devices_duplicate_raises() -> None:
    with pytest.raises(DeviceError, match=re.escape("cpu(1) is named twice")):
        devices(["cpu:1", mx.cpu(1)])


def test_devices_duplicate_ids_in_string_raise() -> None:
    with pytest.raises(DeviceError, match=re.escape("cpu(0) is named twice")):
        devices("cpu:0,0")


def test_devices_list_entry_with_several_devices_raises() -> None:
    with pytest.raises(DeviceError, match=r"contains 'cpu:0,1', which does not name a single"):
        devices(["cpu:0,1"])


def test_devices_list_entry_of_wrong_type_raises() -> None:
    with pytest.raises(DeviceError, match=r"contains 0, which does not name a single device"):
        devices([0])


def test_devices_pinned_memory_raises() -> None:
    with pytest.raises(DeviceError, match=re.escape("cpu_pinned(0) is host staging memory")):
        devices(mx.cpu_pinned(0))


def test_devices_empty_list_raises() -> None:
    with pytest.raises(DeviceError, match=re.escape("devices(spec=[]) names no device")):
        devices([])


def test_device_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="is not a device specification") as info:
        devices("tpu")

    assert isinstance(info.value, GluonSafeError)
