"""Run every benchmark, one subprocess per comparison; print a table and write bench/results.json.

    python -m bench                  # everything (under 10 minutes on 2 cores)
    python -m bench --quick          # smaller sizes, fewer repeats (about 2 minutes)
    python -m bench --only training memory
    python -m bench --markdown       # also print the README's Performance table
    python -m bench.run --from-json bench/results.json --markdown   # table only, no run

Each comparison (one benchmark at one size) runs in a fresh interpreter, so
imports, caches and garbage-collector state of one cannot slow or speed up
another, and a hung one can be killed. Every figure is a ratio against a peer
measured in the same process and run (torchviz, Graphviz ``dot``, a raw torch
loop, a bare torch + Qt window), except the graph view's repaint, which is an
absolute frame budget.

Time limits: the whole run has a budget (``--budget``, default 570 s); each
job gets at most its own limit and never more than the budget minus what the
jobs after it expect to need. ``dot`` on 20k nodes runs last and gets what is
left: when it does not finish, the row says "dot > N s" and the time ratio
is reported as an upper bound.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results.json"
DEFAULT_BUDGET_S = 570.0  # of the 600 s allowed: room for start-up and the summary


@dataclass(frozen=True)
class Job:
    """One comparison: ``bench.<module>.run(**kwargs)`` in its own process.

    ``expect_s``: roughly how long it takes on the 2-core reference machine
    (reserved for it while earlier jobs run); ``limit_s``: when to give up.
    ``fit``: adapts kwargs to the seconds the job is finally given (dot's own
    timeout). ``keep``: only rows whose ``graph`` contains this text.
    """

    name: str
    module: str
    kwargs: dict = field(default_factory=dict)
    expect_s: float = 30.0
    limit_s: float = 120.0
    fit: Callable[[dict, float], dict] | None = None
    keep: str | None = None


def _dot_fits(kwargs: dict, seconds: float) -> dict:
    # layered_layout, graph generation and the small graphs need ~40 s of it
    return {**kwargs, "dot_timeout": max(10.0, min(kwargs.get("dot_timeout", 300.0), seconds - 40.0))}


def jobs(quick: bool = False) -> list[Job]:
    if quick:
        return [
            Job("graph_extract 1k", "graph_extract", {"sizes": [1000], "repeats": 3}, 10, 60),
            Job("graph_extract 10k", "graph_extract", {"sizes": [10000], "repeats": 2}, 20, 90),
            Job("layout real+1k", "layout", {"sizes": [1000], "dot_timeout": 30}, 10, 60),
            Job("graph_view 1k", "graph_view", {"sizes": [1000], "repeats": 3, "real": False}, 10, 60),
            Job("graph_view 5k", "graph_view", {"sizes": [5000], "repeats": 3, "real": False}, 10, 60),
            Job("training lenet b64", "training", {"cases": [["lenet", 64]], "rounds": 5, "block": 5}, 20, 90),
            Job("training resnet_tiny b64", "training", {"cases": [["resnet_tiny", 64]], "rounds": 5, "block": 5}, 20, 90),
            Job("memory", "memory", {"iterations": 200, "max_history": 20}, 15, 90),
            Job("startup", "startup", {"runs": 2}, 25, 120),
        ]
    return [
        Job("graph_extract 1k", "graph_extract", {"sizes": [1000]}, 10, 60),
        Job("graph_extract 10k", "graph_extract", {"sizes": [10000]}, 30, 120),
        Job("graph_extract 50k", "graph_extract", {"sizes": [50000]}, 90, 240),
        Job("layout real+1k+5k", "layout", {"sizes": [1000, 5000], "dot_timeout": 120}, 30, 180, _dot_fits),
        Job("graph_view 1k", "graph_view", {"sizes": [1000], "real": False}, 10, 60),
        Job("graph_view 5k", "graph_view", {"sizes": [5000], "real": False}, 10, 60),
        Job("graph_view 20k", "graph_view", {"sizes": [20000], "real": False}, 15, 90),
        Job("graph_view transformer x24", "graph_view", {"sizes": [], "real": True}, 15, 90),
        Job("training lenet b64", "training", {"cases": [["lenet", 64]], "rounds": 25, "block": 8}, 45, 150),
        Job("training resnet_tiny b64", "training", {"cases": [["resnet_tiny", 64]], "rounds": 25, "block": 8}, 45, 150),
        Job("training resnet_tiny b2", "training", {"cases": [["resnet_tiny", None]], "rounds": 25, "block": 8}, 15, 90),
        Job("memory", "memory", {"iterations": 1000, "max_history": 50}, 30, 150),
        Job("startup", "startup", {"runs": 5}, 45, 150),
        # Last: dot gets what the budget has left, at most 150 s. It did not
        # finish 20k nodes in 300 s here; 150 s already bounds the ratio far
        # below the 0.25 budget, and keeps the whole run near 6 minutes.
        Job("layout 20k", "layout", {"sizes": [20000], "dot_timeout": 150}, 60, 200, _dot_fits, keep="20000"),
    ]


# ---------------------------------------------------------------------------
# the machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _dot_version() -> str | None:
    try:
        out = subprocess.run(["dot", "-V"], capture_output=True, text=True, timeout=10)
        return (out.stderr or out.stdout).strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def machine() -> dict:
    """What ran the benchmarks: numbers only compare on the same kind of machine."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "pyside6": _version("PySide6-Essentials") or _version("PySide6"),
        "torchviz": _version("torchviz"),
        "graphviz_dot": _dot_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": _loadavg(),
    }


# ---------------------------------------------------------------------------
# running jobs


def _child(module: str, kwargs: dict, out: str, keep: str | None) -> int:
    """In the job's own process: run one benchmark and write its rows as JSON."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    bench = importlib.import_module(f"bench.{module}")
    if module == "layout":
        kwargs.setdefault("log", None)  # its rows come back as JSON; no console lines
    rows = bench.run(**kwargs)
    if keep is not None:
        rows = [row for row in rows if keep in str(row.get("graph", ""))]
    Path(out).write_text(json.dumps(rows, default=_jsonable), encoding="utf-8")
    return 0


def _jsonable(value):
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def run_job(job: Job, seconds: float) -> dict:
    """Run ``job`` in a new interpreter for at most ``seconds``; its result entry."""
    kwargs = job.fit(dict(job.kwargs), seconds) if job.fit else dict(job.kwargs)
    with tempfile.TemporaryDirectory(prefix="gradviz-bench-") as tmp:
        out = Path(tmp) / "rows.json"
        log = Path(tmp) / "log.txt"
        cmd = [sys.executable, "-m", "bench.run", "--child", job.module,
               "--kwargs", json.dumps(kwargs), "--out", str(out)]
        if job.keep is not None:
            cmd += ["--keep", job.keep]
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        with open(log, "w") as log_file:
            # its own session: a timeout kills it together with its children (dot)
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = None
        elapsed = time.perf_counter() - start
        entry = {"module": job.module, "kwargs": kwargs, "seconds": round(elapsed, 1), "limit_s": round(seconds, 1)}
        if rc is None:
            entry.update(status="timeout", rows=[], log=log.read_text(errors="replace")[-2000:])
        elif rc != 0 or not out.exists():
            entry.update(status="error", rows=[], log=log.read_text(errors="replace")[-4000:])
        else:
            entry.update(status="ok", rows=json.loads(out.read_text(encoding="utf-8")))
    return entry


def run_all(job_list: list[Job], budget_s: float = DEFAULT_BUDGET_S, echo=print) -> dict:
    results = {"machine": machine(), "budget_s": budget_s, "benchmarks": {}}
    started = time.perf_counter()
    for i, job in enumerate(job_list):
        left = budget_s - (time.perf_counter() - started)
        reserved = sum(later.expect_s for later in job_list[i + 1:])
        seconds = min(job.limit_s, left - reserved)
        if seconds < min(job.expect_s, 5.0):
            results["benchmarks"][job.name] = {"module": job.module, "status": "skipped", "rows": [],
                                               "log": f"only {max(left, 0):.0f} s of the budget left"}
            echo(f"[{i + 1}/{len(job_list)}] {job.name}: skipped (budget spent)")
            continue
        echo(f"[{i + 1}/{len(job_list)}] {job.name} (limit {seconds:.0f} s) ...", end="", flush=True)
        entry = run_job(job, seconds)
        results["benchmarks"][job.name] = entry
        echo(f" {entry['status']} in {entry['seconds']:.0f} s")
        if entry["status"] == "error":
            echo("    " + entry["log"].strip().splitlines()[-1] if entry["log"].strip() else "    (no output)")
    results["machine"]["loadavg_end"] = _loadavg()
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["budgets"] = budgets(results)
    return results


# ---------------------------------------------------------------------------
# budgets: one line per figure the issue asks for


def _rows(results: dict, module: str) -> list[dict]:
    return [row for entry in results["benchmarks"].values() if entry.get("module") == module
            for row in entry.get("rows", [])]


def _missing(results: dict, module: str) -> list[str]:
    return [f"{name}: {entry['status']}" for name, entry in results["benchmarks"].items()
            if entry.get("module") == module and entry["status"] != "ok"]


def _k(n: int) -> str:
    return f"{n:,}"


def budgets(results: dict) -> list[dict]:
    lines: list[dict] = []

    def add(what, peer, measured, budget, met):
        lines.append({"what": what, "compared_with": peer, "measured": measured, "budget": budget, "met": met})

    for row in _rows(results, "graph_extract"):
        add(f"autograd_graph, {row['model']} {_k(row['nodes'])} nodes", "torchviz make_dot",
            f"{row['ratio']:.2f}x ({row['gradviz_s'] * 1e3:.0f} vs {row['torchviz_s'] * 1e3:.0f} ms)",
            "<= 0.5x", row["ratio"] <= 0.5)

    for row in _rows(results, "layout"):
        if row.get("dot_timed_out"):
            time_text = f"< {row['time_ratio']:.3f}x time (ours {row['ours_s']:.2f} s, dot > {row['dot_s']:.0f} s)"
            crossings = "crossings n/a (dot did not finish)"
        else:
            time_text = f"{row['time_ratio']:.3f}x time ({row['ours_s']:.3f} vs {row['dot_s']:.3f} s)"
            crossings = f"{row['crossing_ratio']:.2f}x crossings ({row['crossings_ours']} vs {row['crossings_dot']})"
        met = row["time_ratio"] <= 0.25 and (row.get("crossing_ratio") is None or row["crossing_ratio"] <= 1.2)
        add(f"layered_layout, {row['graph']} ({row['nodes']} nodes)", "dot -Tplain",
            f"{time_text}; {crossings}", "<= 0.25x time, <= 1.2x crossings", met)

    for row in _rows(results, "training"):
        cost = ", ".join(f"{k} {v:.2f}" for k, v in row["cost_ms"].items())
        met = row["full_ratio"] <= 1.5
        add(f"recorded iteration, {row['model']} batch {row['batch']} ({row['graph_nodes']} graph nodes)",
            "raw torch loop",
            f"full {row['full_ratio']:.2f}x, light {row['light_ratio']:.2f}x "
            f"(CPU time, {row['threads']} thread; raw {row['raw_ms']:.1f} ms; full costs: {cost} ms)",
            "<= 1.5x", True if met else ("light only" if row["light_ratio"] <= 1.5 else False))

    for row in _rows(results, "memory"):
        add(f"memory after {row['iterations']} played iterations ({row['preset']}, {row['record']} record, "
            f"max_history {row['max_history']})", "memory after 10",
            f"RSS {row['early']['rss_mb']:.0f} -> {row['late']['rss_mb']:.0f} MB "
            f"(+{row['rss_growth_10_to_late_mb']:.1f}; {row['full']['kept'] - row['early']['kept']} more records "
            f"x {row['record_mb']:.2f} MB = {row['expected_growth_mb']:.1f}); after history full "
            f"{row['rss_growth_after_full_mb']:+.1f} MB, tensors {row['full']['tensors']} -> {row['late']['tensors']}",
            "bounded by max_history", row["bounded"])

    for row in _rows(results, "graph_view"):
        pans = {k: v for k, v in row.items() if k.startswith("pan_")}
        worst_key = max(pans, key=pans.get)
        add(f"graph view, {row['graph']} ({_k(row['nodes'])} nodes)", "absolute",
            f"build {row['build_ms']:.0f} ms, first paint {row['first_paint_fit_ms']:.0f} ms, "
            f"repaint after pan <= {pans[worst_key]:.1f} ms (worst: {worst_key[4:-3]} zoom)",
            "repaint <= 33 ms", pans[worst_key] <= 33.0)

    for row in _rows(results, "startup"):
        add("python main.py until the window is shown", "bare torch + Qt window",
            f"{row['ratio']:.2f}x ({row['gradviz_s']:.2f} vs {row['bare_torch_qt_s']:.2f} s; Qt alone "
            f"{row['qt_only_s']:.2f} s)", "<= 1.5x", row["meets"])

    for module in ("graph_extract", "layout", "training", "memory", "graph_view", "startup"):
        for text in _missing(results, module):
            add(text, "", "no result", "", False)
    return lines


# ---------------------------------------------------------------------------
# output


def _verdict(met) -> str:
    return {True: "yes", False: "NO"}.get(met, str(met))


def format_text(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, Python {m['python']}, {m['date']}"
        f" (load {m.get('loadavg_start')} -> {m.get('loadavg_end')}); {results.get('duration_s', '?')} s",
        "",
    ]
    rows = results["budgets"]
    widths = [max(len(r["what"]) for r in rows + [{"what": "what"}]), 26, 5, 36]
    lines.append(f"{'what':<{widths[0]}}  {'compared with':<{widths[1]}}  {'met':<{widths[2]}}  {'budget':<{widths[3]}}  measured")
    lines.append("-" * (sum(widths) + 20))
    for r in rows:
        lines.append(f"{r['what']:<{widths[0]}}  {r['compared_with']:<{widths[1]}}  {_verdict(r['met']):<{widths[2]}}  "
                     f"{r['budget']:<{widths[3]}}  {r['measured']}")
    return "\n".join(lines)


def format_markdown(results: dict) -> str:
    m = results["machine"]
    head = (f"Measured with `python -m bench` on {m['cpu']} ({m['cores']} cores), torch {m['torch']}, "
            f"Python {m['python']}, {m['date'][:10]}. Every figure is a ratio against a peer measured in the "
            "same run, except the graph view's repaint (absolute).")
    lines = [head, "", "| What | Compared with | Measured | Budget | Met |", "|---|---|---|---|---|"]
    for r in results["budgets"]:
        lines.append(f"| {r['what']} | {r['compared_with']} | {r['measured']} | {r['budget']} | {_verdict(r['met'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="jobs whose name starts with one of these")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds for the whole run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--markdown", action="store_true", help="also print the README's Performance table")
    parser.add_argument("--from-json", type=Path, help="print tables from an earlier results file; run nothing")
    # internal: one job inside its own process
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kwargs", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--keep", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return _child(args.child, json.loads(args.kwargs), str(args.out), args.keep)

    if args.from_json:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
        results["budgets"] = budgets(results)
    else:
        selected = jobs(args.quick)
        if args.only:
            selected = [job for job in selected if any(job.name.startswith(prefix) for prefix in args.only)]
        results = run_all(selected, args.budget)
        results["quick"] = args.quick
        # via a temporary file: an interrupted run leaves the last results intact
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(results, indent=1, default=_jsonable) + "\n", encoding="utf-8")
        os.replace(tmp, args.out)
        print()
    print(format_text(results))
    if args.markdown:
        print()
        print(format_markdown(results))
    if not args.from_json:
        print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
