"""Performance benchmarks of the model (issue 7): one table of case, size, wall s, peak MB, ratio.

Run from the repository root, after ``make test``'s venv exists::

    .venv/bin/python benchmarks/run.py                      # every case (~12 min on 2 cores)
    .venv/bin/python benchmarks/run.py --only municipal choice
    .venv/bin/python benchmarks/run.py --csv /tmp/bench.csv

Each case runs in a fresh Python process (``benchmarks/cases.py``), so ``peak MB`` is that
process's peak resident set size (interpreter, libraries and inputs included) and one case's
memory never counts against the next. The synthetic networks are written once to
``networks/cache/bench/`` (git-ignored) by ``benchmarks/synthetic_network.py``.

Cases: see ``CASES`` in ``benchmarks/cases.py`` and docs/performance.md for what each measures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["municipal", "network", "regional", "choice", "sweep1", "sweep2",
         "agents10k", "agents100k", "agents1m", "net_embedded", "net12k", "net50k", "loading", "extract",
         "region_small", "region"]


def run_case(name: str) -> list[dict]:
    """Run one case in a fresh interpreter; its rows come back as JSON on the last stdout line."""
    code = (f"import json, sys, warnings; warnings.simplefilter('ignore'); sys.path.insert(0, {str(HERE)!r}); "
            f"from cases import CASES; print('@@' + json.dumps(CASES[{name!r}]()))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE.parent, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return [{"case": name, "size": "FAILED", "wall_s": float("nan"), "peak_mb": float("nan"),
                 "ratio": None, "comparator": " | ".join(tail)}]
    return json.loads(lines[-1][2:])


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        mem_text = f"{mem / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        mem_text = "?"
    return f"{os.cpu_count()} CPUs ({cpu}), {mem_text} RAM, Python {platform.python_version()}, {platform.platform()}"


def format_table(rows: list[dict]) -> str:
    header = f"{'case':<54} {'size':<44} {'wall s':>8} {'peak MB':>8} {'ratio':>8}  comparator"
    out = [header, "-" * len(header)]
    for r in rows:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        out.append(f"{r['case']:<54} {r['size']:<44} {r['wall_s']:>8.2f} {r['peak_mb']:>8.0f} {ratio:>8}  {r['comparator']}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=ORDER, help="cases to run (default: all)")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    args = parser.parse_args()
    names = args.only or ORDER
    print(machine(), flush=True)
    rows: list[dict] = []
    started = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        new = run_case(name)
        rows.extend(new)
        print(f"  {name}: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    by_case = {r["case"]: r for r in rows}
    one = next((r for r in rows if r["case"].startswith("6 sweep of 16 runs, 1 ")), None)
    two = next((r for r in rows if r["case"].startswith("6 sweep of 16 runs, 2 ")), None)
    if one and two and two["wall_s"] == two["wall_s"]:
        speedup = one["wall_s"] / two["wall_s"]
        runs = [float(r["comparator"].rsplit("runs ", 1)[1].split()[0]) for r in (one, two)]
        two["ratio"] = speedup
        two["comparator"] = (f"speedup {speedup:.2f}, efficiency {100 * speedup / 2:.0f} % (target >= 80 %); "
                             f"without the serial combined outputs {runs[0] / runs[1]:.2f}, {50 * runs[0] / runs[1]:.0f} %")
    del by_case
    print(format_table(rows))
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.csv:
        import csv

        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
