"""Record a distributed (DDP) training loop with gradviz.watch: two CPU processes, gloo backend.

Each process trains the same model on its own half of sklearn's digits;
DistributedDataParallel averages the gradients. ``gradviz.watch`` records on
rank 0 (after the all-reduce every rank holds the same gradients), and with
``ranks="all"`` every rank also writes its own loss and gradient norms into
the same run file, so a rank that diverges shows. Every rank must then call
``gradviz.watch``. FSDP is not supported yet (watch raises WatchError).

    python examples/ddp_watch.py --out runs/ddp.gvrun --steps 20
    gradviz view runs/ddp.gvrun
"""
from __future__ import annotations

import argparse
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from sklearn.datasets import load_digits

import gradviz


def _worker(rank: int, world_size: int, port: int, path: str, steps: int, batch: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts them)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        ddp = nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.AdamW(ddp.parameters(), lr=1e-2)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        data = load_digits()
        x = torch.tensor(data.images, dtype=torch.float32)[rank::world_size] / 16.0  # this rank's shard
        y = torch.tensor(data.target, dtype=torch.long)[rank::world_size]
        criterion = nn.CrossEntropyLoss()
        with gradviz.watch(ddp, optimizer, path=path, ranks="all", overwrite=True) as run:
            for step in range(steps):
                start = (step * batch) % (len(x) - batch)
                optimizer.zero_grad()
                loss = criterion(ddp(x[start:start + batch]), y[start:start + batch])
                loss.backward()
                nn.utils.clip_grad_norm_(ddp.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                run.step(loss)
        dist.barrier()  # every rank's records are in before any process exits
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(path: str = "runs/ddp.gvrun", world_size: int = 2, steps: int = 20, batch: int = 32) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # stay on this machine
    mp.spawn(_worker, args=(world_size, _free_port(), path, steps, batch), nprocs=world_size, join=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/ddp.gvrun", help="run file to write (replaced if it exists)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--world-size", type=int, default=2)
    args = parser.parse_args(argv)
    train(args.out, world_size=args.world_size, steps=args.steps)
    print(f"recorded {args.steps} iterations from {args.world_size} processes to {args.out} "
          f"(see it: gradviz view {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
