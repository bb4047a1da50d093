"""An archc model under torch.distributed: DistributedDataParallel on two CPU processes (gloo)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

import archc

LENET = Path(__file__).resolve().parent.parent / "specs" / "lenet5.yaml"
WORLD, STEPS, GLOBAL_BATCH = 2, 4, 8

# LeNet-5 has no batch norm, so DDP is exact here: each rank's loss is the mean over its
# equal share of the batch and DDP averages gradients, which gives the gradient of the mean
# loss over the whole batch. (With BatchNorm each rank would normalise by its own half of
# the batch; SyncBatchNorm, which fixes that, runs on GPUs only.)


def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(STEPS, GLOBAL_BATCH, 1, 28, 28, generator=g), torch.randint(0, 10, (STEPS, GLOBAL_BATCH), generator=g)


def train(model: torch.nn.Module, rank: int, world: int) -> None:
    """A few SGD steps with momentum; this rank reads its slice of every global batch."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    inputs, targets = data()
    share = GLOBAL_BATCH // world
    for x, y in zip(inputs, targets):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[rank * share:(rank + 1) * share]), y[rank * share:(rank + 1) * share])
        loss.backward()
        optimizer.step()


def worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
        model = DistributedDataParallel(archc.build(LENET, "mnist"))
        train(model, rank, WORLD)
        torch.save(model.module.state_dict(), Path(out) / f"rank{rank}.pt")
        dist.barrier()  # neither rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_match_single_process(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    states = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    torch.manual_seed(0)  # rank 0's initial weights
    single = archc.build(LENET, "mnist")
    initial = {k: v.clone() for k, v in single.state_dict().items()}
    train(single, rank=0, world=1)
    for key, value in single.state_dict().items():
        assert torch.equal(states[0][key], states[1][key]), f"ranks differ in {key}"
        torch.testing.assert_close(states[0][key], value, rtol=1e-5, atol=1e-6, msg=key)
        assert not torch.equal(value, initial[key]), f"{key} did not train"
