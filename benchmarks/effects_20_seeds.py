"""The climate plan's lever effects over N seeds, paired vs unpaired (issue 16, docs/uncertainty.md).

Runs ``experiments/climate_plan.toml`` with the given seeds, horizon and sample through the
normal runner (process pool, resume, the ``effects`` table), then prints a Markdown table of
each scenario's effect on the headline figures in the headline year: the paired mean with its
95 % interval, the unpaired interval, the variance reduction and whether the effect is
distinguishable from zero. The defaults are the report's setting (20 seeds, whole population,
2019–2030)::

    .venv/bin/python benchmarks/effects_20_seeds.py                         # 160 runs
    .venv/bin/python benchmarks/effects_20_seeds.py --seeds 8 --sample-fraction 0.3 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.config import load_config, resolved_toml
from model.effects import effects_markdown
from model.experiments import run_experiment


def effects_config(seeds: int, sample_fraction: float, end_year: int, folder: Path) -> Path:
    """The climate plan with other seeds, sample and horizon, lean outputs; written to ``folder``."""
    config = load_config(ROOT / "experiments" / "climate_plan.toml")
    config = config.model_copy(update={
        "seeds": list(range(1, seeds + 1)), "sample_fraction": sample_fraction, "end_year": end_year,
        "outputs": config.outputs.model_copy(update={"tables": ["summary"], "link_volumes": False, "report": False}),
    })
    path = folder / "climate_plan.toml"
    path.write_text(resolved_toml(config), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sample-fraction", type=float, default=1.0)
    parser.add_argument("--end-year", type=int, default=2030)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "vmob-effects")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = effects_config(args.seeds, args.sample_fraction, args.end_year, args.out)
    started = time.perf_counter()
    out_dir = run_experiment(config, args.out, workers=args.workers, echo=lambda line: None)
    wall = time.perf_counter() - started
    print(f"# {args.seeds} seeds, sample {args.sample_fraction}, 2019–{args.end_year}, "
          f"{args.workers or 'all'} worker(s): {wall:.0f} s (runs already complete in {args.out} are reused)\n")
    print(effects_markdown(pd.read_csv(out_dir / "effects.csv"), args.end_year))


if __name__ == "__main__":
    main()
