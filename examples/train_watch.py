"""Record your own training loop with gradviz.watch: a small CNN on sklearn's digits.

A complete, ordinary PyTorch loop (mini-batches, AdamW, a one-cycle learning
rate schedule, gradient clipping, a held-out accuracy) with two gradviz lines
added: ``gradviz.watch(...)`` around it and ``run.step(loss)`` after each
optimizer step. The data is sklearn's bundled 8x8 digits (no download); it
runs in a few seconds on a CPU.

    python examples/train_watch.py                       # writes runs/digits.gvrun
    gradviz view runs/digits.gvrun                       # replay it in the app (--summary: as text)
"""
from __future__ import annotations

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

import gradviz


class DigitsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def digits(seed: int = 0):
    """(train x, train y, test x, test y): images scaled to [0, 1], 1 x 8 x 8."""
    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    return x[:split], y[:split], x[split:], y[split:]


def train(path: str = "runs/digits.gvrun", epochs: int = 3, batch: int = 64, every: int = 1,
          level: str = "full", seed: int = 0) -> float:
    """Train, recording into ``path``; return the test accuracy."""
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = digits(seed)
    model = DigitsNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    steps_per_epoch = (len(x_train) + batch - 1) // batch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=epochs * steps_per_epoch)
    criterion = nn.CrossEntropyLoss()

    with gradviz.watch(model, optimizer, path=path, every=every, level=level, overwrite=True) as run:
        for _ in range(epochs):
            model.train()
            for start in torch.randperm(len(x_train)).split(batch):
                optimizer.zero_grad()
                loss = criterion(model(x_train[start]), y_train[start])
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                optimizer.step()
                scheduler.step()
                run.step(loss)

    model.eval()
    with torch.no_grad():
        return (model(x_test).argmax(1) == y_test).float().mean().item()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/digits.gvrun", help="run file to write (replaced if it exists)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--every", type=int, default=1, help="record every N-th iteration")
    parser.add_argument("--level", default="full", choices=("full", "light"))
    args = parser.parse_args(argv)
    accuracy = train(args.out, epochs=args.epochs, every=args.every, level=args.level)
    print(f"test accuracy {accuracy:.3f}; recorded to {args.out} (see it: gradviz view {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
