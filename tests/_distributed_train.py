"""A worker script for the distributed tests: trains the Wine network with ``fit``.

Started by ``python -m gluon_safe.launch`` in the tests, never collected by pytest.
Each worker writes into OUTDIR its final parameters (``params-<rank>.npz``) and a JSON
summary (``result-<rank>.json``): its rank, the History, and the values of a
distributed ``evaluate`` of the final network on the training data.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from typing import Any, Optional

import numpy as np
from _training_helpers import wine

import gluon_safe
from gluon_safe._compat import gluon, mx


class KillOnRank(gluon_safe.Callback):
    """Kill this worker with SIGKILL at the end of ``epoch`` if it has ``rank``, as a crash."""

    def __init__(self, rank: int, epoch: int) -> None:
        self.rank = rank
        self.epoch = epoch

    def on_epoch_end(self, state: Any) -> None:
        if state.epoch == self.epoch and gluon_safe.distributed.worker_rank(
                state.trainer) == self.rank:
            os.kill(os.getpid(), signal.SIGKILL)


def make_net() -> Any:
    """Return the Wine network: two hidden Dense layers, input size inferred at first use."""
    net = gluon.nn.HybridSequential()
    with net.name_scope():
        net.add(gluon.nn.Dense(16, activation="relu"))
        net.add(gluon.nn.Dense(8, activation="relu"))
        net.add(gluon.nn.Dense(3))
    return net


def make_loader(samples: int, batch_size: int, *, shuffle: bool, device: bool = False) -> Any:
    """Return a DataLoader (or a DeviceDataLoader) over the first ``samples`` Wine rows."""
    features, labels = wine(samples)
    dataset = gluon.data.ArrayDataset(features, labels)
    if device:
        return gluon_safe.DeviceDataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                           ctx="cpu", num_classes=3)
    return gluon.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def evaluation_metrics() -> Any:
    """Return the metrics that workers and the test's single process evaluate with."""
    return [mx.metric.Accuracy(), mx.metric.TopKAccuracy(top_k=2)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--kvstore", default="dist_sync")
    parser.add_argument("--update-on-kvstore", type=int, choices=(0, 1), default=None)
    parser.add_argument("--samples", type=int, default=177)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device-loader", action="store_true",
                        help="load with gluon_safe.DeviceDataLoader instead of DataLoader")
    parser.add_argument("--kill-rank", type=int, default=None)
    parser.add_argument("--kill-epoch", type=int, default=0)
    parser.add_argument("--seed-per-process", action="store_true",
                        help="initialize each worker differently, which fit must reject")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    seed: Optional[int] = 0
    if args.seed_per_process:
        seed = None
        mx.random.seed(os.getpid())

    net = make_net()
    net.initialize(mx.init.Xavier())
    callbacks = [] if args.kill_rank is None else [KillOnRank(args.kill_rank, args.kill_epoch)]
    train = make_loader(args.samples, args.batch_size, shuffle=True,
                        device=args.device_loader)
    ordered = make_loader(args.samples, args.batch_size, shuffle=False,
                          device=args.device_loader)
    loss = gluon.loss.SoftmaxCrossEntropyLoss()

    if args.kvstore == "horovod":
        history = gluon_safe.fit(net, train, loss=loss, optimizer="adam",
                                 optimizer_params={"learning_rate": 0.01}, kvstore="horovod",
                                 epochs=args.epochs, val_data=ordered, callbacks=callbacks,
                                 seed=seed)
        evaluation = gluon_safe.evaluate(net, ordered, metrics=evaluation_metrics(),
                                         kvstore="horovod")
        hvd = gluon_safe.distributed.import_horovod()
        rank, num_workers, kvstore_type, on_kvstore = hvd.rank(), hvd.size(), "horovod", False
    else:
        update_on_kvstore = (None if args.update_on_kvstore is None
                             else bool(args.update_on_kvstore))
        trainer = gluon_safe.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01},
                                     kvstore=args.kvstore, update_on_kvstore=update_on_kvstore)
        history = gluon_safe.fit(net, train, loss=loss, trainer=trainer, epochs=args.epochs,
                                 val_data=ordered, callbacks=callbacks, seed=seed)
        kvstore = trainer._kvstore
        evaluation = gluon_safe.evaluate(net, ordered, metrics=evaluation_metrics(),
                                         kvstore=kvstore)
        rank, num_workers = int(kvstore.rank), int(kvstore.num_workers)
        kvstore_type, on_kvstore = str(kvstore.type), bool(trainer._update_on_kvstore)

    params = {name: param.data().asnumpy()
              for name, param in net._collect_params_with_prefix().items()}
    np.savez(os.path.join(args.outdir, f"params-{rank}.npz"), **params)
    summary = {
        "rank": rank,
        "num_workers": num_workers,
        "kvstore": kvstore_type,
        "update_on_kvstore": on_kvstore,
        "history": {key: history[key] for key in history.keys()},
        "evaluate": evaluation,
    }
    with open(os.path.join(args.outdir, f"result-{rank}.json"), "w", encoding="utf-8") as out:
        json.dump(summary, out)
    print(f"rank {rank} finished: {evaluation}")


if __name__ == "__main__":
    main()
