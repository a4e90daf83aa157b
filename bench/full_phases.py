"""Benchmark: a full record against a raw torch iteration, phase by phase (no node gradients).

The same method as :mod:`bench.training` (thread CPU time, one torch thread,
blocks round-robin, median of per-round ratios) on the presets and the
third-party-sized models of :mod:`bench._models`, printing the extra CPU ms
of each phase: where the time above raw goes.

    python bench/full_phases.py NAME [ITERATIONS_PER_BLOCK] [ROUNDS]    # NAME: lenet, resnet_tiny, resnet50, gpt2

Run as a script it imports gradviz from its own tree; to time another tree
(a baseline), run a copy of it from outside both with that tree on PYTHONPATH.
"""
import sys, time, statistics
from pathlib import Path
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from torch import nn
import gradviz
from bench.training import _spec, LR, _session_block
from bench.node_gradients import _big_model
from gradviz.core.data import RandomData, VALUES
from gradviz.core.session import TrainingSession, PHASES
torch.set_num_threads(1)
name = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 4; rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 7
ng = "ng" in sys.argv
big = name in ("resnet50", "gpt2")
if big:
    m, ex = _big_model(name)
    s = TrainingSession(m, loss="mse", optimizer="sgd", lr=LR, inputs=ex, seed=0, record="full", max_history=3, node_gradients=ng)
    model, inputs = _big_model(name)
    _, targets = s.data.batch(s.input_shape, s.output_shape, VALUES)
else:
    spec = _spec(name, 64 if name == "lenet" else None)
    s = TrainingSession(spec, loss="mse", optimizer="sgd", lr=LR, data=RandomData(seed=0), seed=0, record="full", max_history=10, node_gradients=ng)
    model = gradviz.build_model(spec, seed=0)
    inputs, targets = RandomData(seed=0).batch(spec.input_shape, s.output_shape, VALUES)
opt = torch.optim.SGD(model.parameters(), lr=LR); crit = nn.MSELoss()
def raw_phases(n):
    t = dict.fromkeys(PHASES, 0.0)
    for _ in range(n):
        a = time.thread_time(); opt.zero_grad(); b = time.thread_time(); out = model(inputs); c = time.thread_time()
        loss = crit(out, targets); d = time.thread_time(); loss.backward(); e = time.thread_time(); opt.step(); f = time.thread_time()
        for k, v in zip(PHASES, (b-a, c-b, d-c, e-d, f-e)): t[k] += v
    return {k: v / n for k, v in t.items()}
raw_phases(2); _session_block(s, 2)
R = {p: [] for p in PHASES}; F = {p: [] for p in PHASES}; ratios = []
for r in range(rounds):
    rp = raw_phases(n); _, _, fp = _session_block(s, n)
    for p in PHASES: R[p].append(rp[p]); F[p].append(fp[p])
    ratios.append(sum(fp.values()) / sum(rp.values()))
print(f"{name} ratio median {statistics.median(ratios):.2f}  range {min(ratios):.2f}-{max(ratios):.2f}")
for p in PHASES:
    r, f = statistics.median(R[p])*1e3, statistics.median(F[p])*1e3
    print(f"  {p:<10} raw {r:8.3f}  full {f:8.3f}  +{f-r:8.3f} ms")
print(f"  total      raw {sum(statistics.median(R[p]) for p in PHASES)*1e3:8.3f}  full {sum(statistics.median(F[p]) for p in PHASES)*1e3:8.3f}")
