"""Time both loops of bench_loader.py with pin_memory on and off, on GPUs.

Needs a CUDA build of MXNet and at least one visible GPU (``mx.context.num_gpus() > 0``);
CI does not run it. It uses every visible GPU unless ``--devices`` selects others, and
reports samples per second for the hand-written loop (DataLoader + split_and_load) and
for DeviceDataLoader, each with ``pin_memory=False`` and ``pin_memory=True`` (pinned next
to the first device), with the median per-round ratio to the unpinned hand-written loop.

Run from the repository root::

    python benchmarks/bench_loader_pinned.py
    python benchmarks/bench_loader_pinned.py --num-workers 4 --features 12288
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from bench_loader import (
    TARGET_RATIO,
    add_common_arguments,
    describe_machine,
    device_loader_epoch,
    hand_written_epoch,
    make_dataset,
    make_network,
    print_table,
    time_rounds,
)

from gluon_safe._compat import mx
from gluon_safe.data import DeviceDataLoader, devices


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, devices_default="auto")
    args = parser.parse_args(argv)

    describe_machine()
    ctx = devices(args.devices)
    gpu_ids = [c.device_id for c in ctx if c.device_type == "gpu"]
    if not gpu_ids and args.devices == "auto":
        print("no GPU is visible (mx.context.num_gpus() == 0); this benchmark measures "
              "pinned host memory for GPU copies, so there is nothing to measure here")
        return 0
    pin_device_id = gpu_ids[0] if gpu_ids else 0

    dataset = make_dataset(args.samples, args.features, args.seed)
    net = make_network(ctx, args.features)
    print(f"devices: {ctx}, {args.samples} samples x {args.features} features, "
          f"batch_size={args.batch_size}, num_workers={args.num_workers}, "
          f"thread_pool={args.thread_pool}, rounds={args.rounds}")

    variants = {}
    for pin_memory in (False, True):
        options = dict(batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers,
                       thread_pool=args.thread_pool, pin_memory=pin_memory,
                       pin_device_id=pin_device_id)
        suffix = f" pin_memory={pin_memory}"
        variants["DataLoader + split_and_load" + suffix] = hand_written_epoch(
            dataset, net, ctx, options)
        variants["DeviceDataLoader" + suffix] = device_loader_epoch(dataset, net, ctx, options)
    try:
        rates = time_rounds(variants, args.rounds)
    finally:
        for run in variants.values():
            loader = run.loader  # type: ignore[attr-defined]
            if isinstance(loader, DeviceDataLoader):
                loader.close()

    ratios = print_table(rates, baseline="DataLoader + split_and_load pin_memory=False")
    best = max(ratios["DeviceDataLoader pin_memory=False"],
               ratios["DeviceDataLoader pin_memory=True"])
    verdict = "met" if best >= TARGET_RATIO else "missed"
    print(f"target: best DeviceDataLoader ratio >= {TARGET_RATIO}: {verdict}")
    mx.nd.waitall()
    return 0


if __name__ == "__main__":
    sys.exit(main())
