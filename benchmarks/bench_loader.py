"""Time DeviceDataLoader against DataLoader + split_and_load written by hand, in one process.

Both loops read the same in-memory dataset in the same shuffled batches, split every
batch over the same devices, and run a small network forward on each slice, waiting for
its output as a metric update does. Each round runs one epoch of every variant in turn,
so all variants see the same machine load. The table gives the median samples per second
over the rounds and the median of the per-round ratios to the hand-written loop.

Several ``mx.cpu(i)`` contexts stand in for GPUs by default. Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_loader.py
    OMP_NUM_THREADS=1 python benchmarks/bench_loader.py --num-workers 2
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from gluon_safe._compat import gluon, mx
from gluon_safe.data import DeviceDataLoader, devices

TARGET_RATIO = 1.0
NUM_CLASSES = 10

EpochRunner = Callable[[], int]
"""Runs one epoch and returns the number of samples it processed."""


def make_dataset(num_samples: int, num_features: int, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((num_samples, num_features), dtype=np.float32)
    labels = rng.integers(0, NUM_CLASSES, size=num_samples).astype(np.float32)
    return gluon.data.ArrayDataset(features, labels)


def make_network(ctx: List[Any], num_features: int) -> Any:
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(256, activation="relu"), gluon.nn.Dense(NUM_CLASSES))
    net.initialize(mx.init.Xavier(), ctx=ctx)
    net.hybridize()
    for device in ctx:  # build the cached graph on every device before timing
        net(mx.nd.zeros((2, num_features), ctx=device)).wait_to_read()
    return net


def compute(net: Any, data: List[Any]) -> None:
    """Run the caller's work for one batch: a forward pass per device, read back like a metric."""
    outputs = [net(part) for part in data]
    for output in outputs:
        output.wait_to_read()


def hand_written_epoch(dataset: Any, net: Any, ctx: List[Any],
                       loader_options: Dict[str, Any]) -> EpochRunner:
    loader = gluon.data.DataLoader(dataset, **loader_options)

    def run() -> int:
        count = 0
        for data, label in loader:
            parts = gluon.utils.split_and_load(data, ctx, even_split=False)
            gluon.utils.split_and_load(label, ctx, even_split=False)
            compute(net, parts)
            count += data.shape[0]
        return count

    run.loader = loader  # type: ignore[attr-defined]
    return run


def device_loader_epoch(dataset: Any, net: Any, ctx: List[Any],
                        loader_options: Dict[str, Any], **options: Any) -> EpochRunner:
    loader = DeviceDataLoader(dataset, ctx=ctx, **loader_options, **options)

    def run() -> int:
        count = 0
        for batch in loader:
            compute(net, batch.data)
            count += batch.num_samples
        return count

    run.loader = loader  # type: ignore[attr-defined]
    return run


def time_rounds(variants: Dict[str, EpochRunner], rounds: int) -> Dict[str, List[float]]:
    """Return samples per second of each variant for each round, after one warm-up epoch."""
    for run in variants.values():
        run()
    rates: Dict[str, List[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            start = time.perf_counter()
            count = run()
            mx.nd.waitall()
            rates[name].append(count / (time.perf_counter() - start))
    return rates


def print_table(rates: Dict[str, List[float]], baseline: str) -> Dict[str, float]:
    """Print median samples/s and median per-round ratio to ``baseline``; return the ratios."""
    ratios = {}
    width = max(len(name) for name in rates)
    print(f"{'variant':<{width}} {'samples/s':>10} {'ratio':>7}")
    for name, values in rates.items():
        ratio = statistics.median(a / b for a, b in zip(values, rates[baseline]))
        ratios[name] = ratio
        print(f"{name:<{width}} {statistics.median(values):>10.0f} {ratio:>7.3f}")
    return ratios


def describe_machine() -> None:
    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(f"command: {command}")
    print(f"python {platform.python_version()}, mxnet {mx.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"GPUs visible: {mx.context.num_gpus()}")


def add_common_arguments(parser: argparse.ArgumentParser, devices_default: str) -> None:
    parser.add_argument("--devices", default=devices_default,
                        help="device spec as gluon_safe.devices takes it")
    parser.add_argument("--samples", type=int, default=8192, help="dataset size")
    parser.add_argument("--features", type=int, default=1024, help="features per sample")
    parser.add_argument("--batch-size", type=int, default=256, help="samples per batch")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--thread-pool", action="store_true",
                        help="DataLoader thread_pool=True")
    parser.add_argument("--rounds", type=int, default=9, help="timed epochs per variant")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, devices_default="cpu:0,1,2,3")
    args = parser.parse_args(argv)

    describe_machine()
    ctx = devices(args.devices)
    dataset = make_dataset(args.samples, args.features, args.seed)
    net = make_network(ctx, args.features)
    options = dict(batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers,
                   thread_pool=args.thread_pool)
    print(f"devices: {ctx}, {args.samples} samples x {args.features} features, "
          f"batch_size={args.batch_size}, num_workers={args.num_workers}, "
          f"thread_pool={args.thread_pool}, rounds={args.rounds}")

    variants = {
        "DataLoader + split_and_load": hand_written_epoch(dataset, net, ctx, options),
        "DeviceDataLoader": device_loader_epoch(dataset, net, ctx, options),
        "DeviceDataLoader num_classes=10": device_loader_epoch(dataset, net, ctx, options,
                                                               num_classes=NUM_CLASSES),
        "DeviceDataLoader device_prefetch=0": device_loader_epoch(dataset, net, ctx, options,
                                                                  device_prefetch=0),
    }
    try:
        rates = time_rounds(variants, args.rounds)
    finally:
        for run in variants.values():
            loader = run.loader  # type: ignore[attr-defined]
            if isinstance(loader, DeviceDataLoader):
                loader.close()

    ratios = print_table(rates, baseline="DataLoader + split_and_load")
    verdict = "met" if ratios["DeviceDataLoader"] >= TARGET_RATIO else "missed"
    print(f"target: DeviceDataLoader ratio >= {TARGET_RATIO}: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
