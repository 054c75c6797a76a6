"""Time ``SafeAccuracy.update`` against ``mx.metric.Accuracy.update`` in one process.

Default check mode: every update of MXNet's Accuracy is paired with one update of
SafeAccuracy, in alternating order, and each is timed on its own. Both read their
results back to the host inside ``update``, so one call carries its whole cost, and the
two calls of a pair see the same machine load. The table gives the median time per
update of each and the median of the per-pair ratios.

``check='lazy'`` defers its device work, so a single update does not show its cost.
It is timed in blocks of ``--updates`` updates plus one ``get()``, which reads the
deferred results, against the same block for MXNet's Accuracy, alternating.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_accuracy.py
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from typing import Any, Optional

import numpy as np

from gluon_safe._compat import mx, nd
from gluon_safe.metrics import SafeAccuracy

SHAPES = ((64, 6), (256, 10), (1024, 1000))
TARGET_RATIO = 1.05


def _time_update(metric: Any, labels: Any, preds: Any) -> float:
    start = time.perf_counter()
    metric.update(labels, preds)
    return time.perf_counter() - start


def _time_block(metric: Any, labels: Any, preds: Any, updates: int) -> float:
    """Return the seconds per update for ``updates`` updates and one ``get()``."""
    metric.reset()
    start = time.perf_counter()
    for _ in range(updates):
        metric.update(labels, preds)
    metric.get()
    return (time.perf_counter() - start) / updates


def _paired_updates(
    baseline: Any, candidate: Any, labels: Any, preds: Any, pairs: int
) -> tuple[list[float], list[float]]:
    baseline_times: list[float] = []
    candidate_times: list[float] = []
    for index in range(pairs):
        if index % 2 == 0:
            baseline_times.append(_time_update(baseline, labels, preds))
            candidate_times.append(_time_update(candidate, labels, preds))
        else:
            candidate_times.append(_time_update(candidate, labels, preds))
            baseline_times.append(_time_update(baseline, labels, preds))
    return baseline_times, candidate_times


def _paired_blocks(
    baseline: Any, candidate: Any, labels: Any, preds: Any, rounds: int, updates: int
) -> tuple[list[float], list[float]]:
    baseline_times: list[float] = []
    candidate_times: list[float] = []
    for index in range(rounds):
        if index % 2 == 0:
            baseline_times.append(_time_block(baseline, labels, preds, updates))
            candidate_times.append(_time_block(candidate, labels, preds, updates))
        else:
            candidate_times.append(_time_block(candidate, labels, preds, updates))
            baseline_times.append(_time_block(baseline, labels, preds, updates))
    return baseline_times, candidate_times


def _median_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def _bench_shape(
    shape: tuple[int, int], pairs: int, rounds: int, updates: int, seed: int
) -> tuple[str, float]:
    """Return the table row for one prediction shape and its default-mode ratio."""
    rng = np.random.default_rng(seed)
    preds = nd.array(rng.random(shape, dtype=np.float32))
    labels = nd.array(rng.integers(0, shape[1], size=shape[0]).astype(np.float32))
    mxnet, safe, lazy = mx.metric.Accuracy(), SafeAccuracy(), SafeAccuracy(check="lazy")
    for metric in (mxnet, safe, lazy):  # warm-up: operator caches, first allocations
        _time_block(metric, labels, preds, 5)

    mxnet_times, safe_times = _paired_updates(mxnet, safe, labels, preds, pairs)
    mxnet_blocks, lazy_blocks = _paired_blocks(mxnet, lazy, labels, preds, rounds, updates)

    ratio = _median_ratio(safe_times, mxnet_times)
    lazy_ratio = _median_ratio(lazy_blocks, mxnet_blocks)
    return (
        f"{shape!s:>12} | {statistics.median(mxnet_times) * 1e6:11.1f} | "
        f"{statistics.median(safe_times) * 1e6:8.1f} | {ratio:6.3f} | "
        f"{statistics.median(mxnet_blocks) * 1e6:13.1f} | "
        f"{statistics.median(lazy_blocks) * 1e6:8.1f} | {lazy_ratio:10.3f}"
    ), ratio


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pairs", type=int, default=600, help="paired single updates per shape (default mode)"
    )
    parser.add_argument("--rounds", type=int, default=30, help="paired blocks per shape (lazy)")
    parser.add_argument("--updates", type=int, default=20, help="updates per block (lazy)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data")
    args = parser.parse_args(argv)

    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(f"command: {command}")
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    print(f"python {platform.python_version()}, mxnet {mx.__version__}, numpy {np.__version__}")
    print(
        f"default mode: {args.pairs} paired updates; lazy: {args.rounds} paired blocks of "
        f"{args.updates} updates + get(); times are medians per update in microseconds\n"
    )

    header = (
        f"{'preds shape':>12} | {'Accuracy us':>11} | {'Safe us':>8} | {'ratio':>6} | "
        f"{'Accuracy blk':>13} | {'lazy us':>8} | {'lazy ratio':>10}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for shape in SHAPES:
        # An argmax over 1000 classes costs far more per update, so fewer samples keep
        # the run short.
        scale = 1 if shape[1] < 100 else 4
        row, ratio = _bench_shape(
            shape, args.pairs // scale, args.rounds, max(1, args.updates // scale), args.seed
        )
        worst = max(worst, ratio)
        print(row)
    verdict = "met" if worst <= TARGET_RATIO else "missed"
    print(f"\nworst default-mode ratio {worst:.3f}: target <= {TARGET_RATIO} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
