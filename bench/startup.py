"""Benchmark: time from ``python main.py`` until the main window is shown, against a bare torch + Qt window.

Each run is a fresh interpreter (``QT_QPA_PLATFORM=offscreen``, empty config
directories so no settings or recovered work are loaded). The clock starts
just before the process is spawned and stops when the child reports its
first painted frame, so interpreter start-up and all imports count.

Peers, run alternately so they see the same load:
    bare     ``import torch`` + PySide6, an empty ``QMainWindow`` shown the same
             way: what any torch desktop app pays before its first frame
    qt       PySide6 only: the floor (context; not a budget)

gradviz is started through ``bench/_show_driver.py``, which calls
``gradviz.app.main()`` with an event filter that exits on the first paint.
Once gradviz.app supports ``GRADVIZ_BENCH_EXIT_ON_SHOW=1`` (print
``SHOWN <time.perf_counter()>`` after the first paint, then exit) the
benchmark runs ``main.py`` itself instead.

    python bench/startup.py [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "_show_driver.py"
HOOK_ENV = "GRADVIZ_BENCH_EXIT_ON_SHOW"
TARGET = 1.5
TIMEOUT_S = 60.0


def app_has_hook() -> bool:
    """True when gradviz.app itself can exit on its first shown frame."""
    app = ROOT / "gradviz" / "app.py"
    return app.exists() and HOOK_ENV in app.read_text(encoding="utf-8")


def _command(kind: str) -> list[str]:
    if kind == "gradviz" and app_has_hook():
        return [sys.executable, str(ROOT / "main.py")]
    return [sys.executable, str(DRIVER), kind]


def time_to_show(kind: str, config_dir: str) -> float:
    """Seconds from spawning ``kind`` until it reports its window painted."""
    env = dict(os.environ)
    env.update({
        "QT_QPA_PLATFORM": "offscreen",
        HOOK_ENV: "1",
        # a clean profile: no remembered layout, no recovery prompt
        "XDG_CONFIG_HOME": config_dir,
        "GRADVIZ_CONFIG_DIR": config_dir,
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    start = time.perf_counter()
    proc = subprocess.run(_command(kind), cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    for line in proc.stdout.splitlines():
        if line.startswith("SHOWN "):
            return float(line.split()[1]) - start
    raise RuntimeError(f"{kind}: the window was never shown (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


def run(runs: int = 5, warm: bool = True) -> list[dict]:
    """Median of ``runs`` starts per variant, alternated; one row.

    ``warm``: start Qt and torch once untimed first, so the first timed run
    does not read every shared library from disk while the others find them
    in the page cache."""
    times: dict[str, list[float]] = {"gradviz": [], "bare": [], "qt": []}
    with tempfile.TemporaryDirectory(prefix="gradviz-bench-config-") as config:
        if warm:
            time_to_show("qt", config)
            time_to_show("bare", config)
        for i in range(runs):
            order = list(times) if i % 2 == 0 else list(reversed(times))
            for kind in order:
                times[kind].append(time_to_show(kind, config))
    med = {kind: statistics.median(values) for kind, values in times.items()}
    ratios = [g / b for g, b in zip(times["gradviz"], times["bare"])]
    return [{
        "runs": runs,
        "launched": "main.py (app hook)" if app_has_hook() else "bench/_show_driver.py -> gradviz.app.main()",
        "gradviz_s": med["gradviz"],
        "bare_torch_qt_s": med["bare"],
        "qt_only_s": med["qt"],
        "ratio": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "meets": statistics.median(ratios) <= TARGET,
        "all_s": times,
    }]


def format_table(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        lines.append(
            f"main window shown: gradviz {r['gradviz_s']:.2f} s, bare torch+Qt {r['bare_torch_qt_s']:.2f} s, "
            f"Qt only {r['qt_only_s']:.2f} s -> ratio {r['ratio']:.2f} (target <= {TARGET}; median of {r['runs']})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    print(format_table(run(args.runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
