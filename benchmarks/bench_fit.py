"""Time an epoch of ``gluon_safe.fit`` against a hand-written Gluon loop and ``Estimator.fit``.

All contenders train the same network on the same synthetic data and devices, in one
process, and start from the same initial parameters:

``plain``
    The hand-written loop users write: ``split_and_load``, ``autograd.record()``,
    ``backward()``, ``trainer.step(batch_size)`` and ``mx.metric.Accuracy.update`` every
    batch. The loss is summed on the device and read once per epoch, the cheapest way.
``estimator``
    ``gluon.contrib.estimator.Estimator.fit`` with ``mx.metric.Accuracy``.
``fit``
    ``gluon_safe.fit`` with its defaults: the safe loss and ``SafeAccuracy``, both
    checking CPU labels eagerly.
``fit_lazy``
    ``gluon_safe.fit(check='lazy')``: label checks and accuracy counts stay on the
    device and are read once per epoch.

Each contender trains in its own thread, but a baton lets only one of them run an epoch
at a time, in turn: plain, estimator, fit, fit_lazy, plain, ... So the epochs that are
compared run seconds apart and see the same machine load, which matters on a shared
machine. Every epoch starts and ends with ``nd.waitall()``, so its time covers all of its
work and none of another contender's. The first epoch of each contender is dropped as
warm-up. A ratio is the median over epochs of (candidate epoch time / baseline epoch time
of the same turn).

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_fit.py
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shlex
import statistics
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from gluon_safe._compat import autograd, gluon, mx, nd
from gluon_safe.data import devices
from gluon_safe.training import Callback, Trainer, fit

TARGET_PLAIN = 1.02
TARGET_ESTIMATOR = 1.0
TARGET_LAZY = 0.95


def make_data(samples: int, features: int, classes: int, seed: int) -> Any:
    """Return a Gluon dataset of separable Gaussian clusters with float32 labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=samples)
    centers = rng.normal(size=(classes, features)).astype(np.float32)
    data = centers[labels] + rng.normal(scale=2.0, size=(samples, features)).astype(np.float32)
    return gluon.data.ArrayDataset(data.astype(np.float32), labels.astype(np.float32))


def make_net(features: int, hidden: int, classes: int, ctx: List[Any], seed: int) -> Any:
    """Return a hybridized MLP initialized from ``seed`` on ``ctx``."""
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Dense(hidden, in_units=features, activation="relu"),
            gluon.nn.Dense(hidden, in_units=hidden, activation="relu"),
            gluon.nn.Dense(classes, in_units=hidden))
    mx.random.seed(seed)
    net.initialize(mx.init.Xavier(), ctx=ctx)
    net.hybridize(static_alloc=True, static_shape=True)
    return net


class Baton:
    """Let the contenders run their epochs one at a time, in a fixed rotation."""

    def __init__(self, names: List[str]) -> None:
        self._names = list(names)
        self._turn = 0
        self._condition = threading.Condition()
        self.times: Dict[str, List[float]] = {name: [] for name in names}
        self._started: Dict[str, float] = {}

    def epoch_begin(self, name: str) -> None:
        """Wait for the turn of ``name``, then start its clock."""
        with self._condition:
            self._condition.wait_for(lambda: self._names[self._turn] == name)
        nd.waitall()
        self._started[name] = time.perf_counter()

    def epoch_end(self, name: str) -> None:
        """Stop the clock of ``name`` and hand the turn to the next contender."""
        nd.waitall()
        self.times[name].append(time.perf_counter() - self._started[name])
        with self._condition:
            self._turn = (self._turn + 1) % len(self._names)
            self._condition.notify_all()

    def retire(self, name: str) -> None:
        """Take ``name`` out of the rotation (it finished or failed)."""
        with self._condition:
            position = self._names.index(name)
            self._names.pop(position)
            if self._names and self._turn >= len(self._names):
                self._turn = 0
            elif self._names and position < self._turn:
                self._turn -= 1
            self._condition.notify_all()


class EpochTimer(Callback):
    """Pass the baton at the epoch boundaries of ``fit``."""

    def __init__(self, baton: Baton, name: str) -> None:
        self.baton = baton
        self.name = name

    def on_epoch_begin(self, state: Any) -> None:
        self.baton.epoch_begin(self.name)

    def on_epoch_end(self, state: Any) -> None:
        self.baton.epoch_end(self.name)


def run_plain(net: Any, loader: Any, ctx: List[Any], epochs: int, lr: float,
              baton: Baton) -> None:
    """Train with the hand-written loop."""
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": lr})
    metric = mx.metric.Accuracy()
    for _ in range(epochs):
        baton.epoch_begin("plain")
        metric.reset()
        total = nd.zeros((1,), ctx=ctx[0])
        for data, label in loader:
            datas = gluon.utils.split_and_load(data, ctx, even_split=False)
            labels = gluon.utils.split_and_load(label, ctx, even_split=False)
            with autograd.record():
                outputs = [net(x) for x in datas]
                losses = [loss_fn(out, y) for out, y in zip(outputs, labels)]
            autograd.backward(losses)
            trainer.step(data.shape[0])
            metric.update(labels, outputs)
            for loss in losses:
                total += loss.sum().as_in_context(ctx[0])
        total.asscalar()
        metric.get()
        baton.epoch_end("plain")


def run_estimator(net: Any, loader: Any, ctx: List[Any], epochs: int, lr: float,
                  baton: Baton) -> None:
    """Train with ``Estimator.fit``."""
    from mxnet.gluon.contrib.estimator import Estimator
    from mxnet.gluon.contrib.estimator.event_handler import EpochBegin, EpochEnd

    class TimerStart(EpochBegin):  # type: ignore[misc]
        priority = -np.inf

        def epoch_begin(self, estimator: Any, *args: Any, **kwargs: Any) -> None:
            baton.epoch_begin("estimator")

    class TimerStop(EpochEnd):  # type: ignore[misc]
        priority = np.inf

        def epoch_end(self, estimator: Any, *args: Any, **kwargs: Any) -> bool:
            baton.epoch_end("estimator")
            return False

    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": lr})
    estimator = Estimator(net, loss=gluon.loss.SoftmaxCrossEntropyLoss(),
                          train_metrics=[mx.metric.Accuracy()], trainer=trainer, context=ctx)
    estimator.logger.setLevel(logging.WARNING)
    estimator.fit(loader, epochs=epochs, event_handlers=[TimerStart(), TimerStop()])


def run_fit(net: Any, loader: Any, ctx: List[Any], epochs: int, lr: float, baton: Baton,
            check: str = "auto", name: str = "fit") -> None:
    """Train with ``gluon_safe.fit``."""
    trainer = Trainer(net.collect_params(), "adam", {"learning_rate": lr})
    fit(net, loader, loss=gluon.loss.SoftmaxCrossEntropyLoss(), trainer=trainer, epochs=epochs,
        ctx=ctx, callbacks=[EpochTimer(baton, name)], check=check,  # type: ignore[arg-type]
        verbose=False)


def run_contenders(runners: Dict[str, Callable[[Any, Baton], None]],
                   nets: Dict[str, Any]) -> Dict[str, List[float]]:
    """Run every contender in its own thread under one baton; return the epoch times."""
    baton = Baton(list(runners))
    failures: List[BaseException] = []

    def target(name: str) -> None:
        try:
            runners[name](nets[name], baton)
        except BaseException as error:  # reported by the main thread
            failures.append(error)
        finally:
            baton.retire(name)

    threads = [threading.Thread(target=target, args=(name,), name=name) for name in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return baton.times


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12800, help="training samples")
    parser.add_argument("--features", type=int, default=64, help="input features")
    parser.add_argument("--classes", type=int, default=10, help="number of classes")
    parser.add_argument("--hidden", type=int, default=256, help="units per hidden layer")
    parser.add_argument("--batch-size", type=int, default=128, help="samples per batch")
    parser.add_argument("--epochs", type=int, default=15, help="timed epochs per contender")
    parser.add_argument("--ctx", default="cpu", help="devices, as gluon_safe.devices reads them")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and initialization")
    args = parser.parse_args(argv)

    ctx = devices(args.ctx)
    dataset = make_data(args.samples, args.features, args.classes, args.seed)
    loader = gluon.data.DataLoader(dataset, batch_size=args.batch_size, last_batch="keep")
    lr, epochs = 0.001, args.epochs + 1
    runners: Dict[str, Callable[[Any, Baton], None]] = {
        "plain": lambda net, baton: run_plain(net, loader, ctx, epochs, lr, baton),
        "estimator": lambda net, baton: run_estimator(net, loader, ctx, epochs, lr, baton),
        "fit": lambda net, baton: run_fit(net, loader, ctx, epochs, lr, baton),
        "fit_lazy": lambda net, baton: run_fit(net, loader, ctx, epochs, lr, baton,
                                               check="lazy", name="fit_lazy"),
    }

    command = " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
    print(f"command: {command}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"python {platform.python_version()}, mxnet {mx.__version__}, numpy {np.__version__}")
    print(f"data: {args.samples} x {args.features}, {args.classes} classes, batch "
          f"{args.batch_size} ({len(loader)} batches); MLP {args.hidden}-{args.hidden}; "
          f"ctx {ctx}; {args.epochs} timed epochs per contender after 1 warm-up epoch\n")

    started = time.perf_counter()
    nets = {name: make_net(args.features, args.hidden, args.classes, ctx, args.seed)
            for name in runners}
    times = {name: values[1:] for name, values in run_contenders(runners, nets).items()}

    print(f"{'contender':>10} | {'median epoch s':>14} | {'min':>6} | {'max':>6}")
    for name, values in times.items():
        print(f"{name:>10} | {statistics.median(values):14.3f} | {min(values):6.3f} | "
              f"{max(values):6.3f}")
    print()
    for candidate, baseline, target in (("fit", "plain", TARGET_PLAIN),
                                        ("fit", "estimator", TARGET_ESTIMATOR),
                                        ("fit_lazy", "plain", TARGET_LAZY)):
        ratio = statistics.median(a / b for a, b in zip(times[candidate], times[baseline]))
        verdict = "met" if ratio <= target else "missed"
        print(f"{candidate + ' / ' + baseline:>18}: {ratio:.3f} (target <= {target}: {verdict})")
    print(f"\nthe whole run took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
