"""Lever effects as paired differences over seeds, with 95 % intervals.

A scenario's effect on a headline figure is the mean over seeds of
``scenario(seed) − baseline(seed)``. With common random numbers
(``model/random_streams.py``) both runs of a pair share their population, tastes and
random draws, so the pair's difference holds little sampling noise and its standard error
is far smaller than that of the difference of two independent means (the "unpaired"
interval, given for comparison). An effect whose interval contains zero is reported as not
distinguishable from zero. Method and measured variance reduction: docs/uncertainty.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Scenario name of the reference every other scenario is compared with (as in model.plots).
BASELINE_SCENARIO = "baseline"
#: Separator between a scenario name and its sweep values in run labels (model.experiments.run_label).
LABEL_SEPARATOR = "__"
#: Summary figures whose effects are reported.
EFFECT_FIGURES: tuple[str, ...] = (
    "share_car", "share_bike", "share_walk", "share_s_train", "share_light_rail",
    "co2_territorial_t", "co2_resident_t", "co2_through_t", "vkm_total_per_year", "vkm_inside_per_year",
    "vkm_outside_per_year", "co2_outside_t", "vkm_evaporated_per_year", "co2_evaporated_t",
)
#: Columns of the ``effects`` table, in contract order (schema: model.outputs.SCHEMAS["effects"]).
EFFECT_COLUMNS: tuple[str, ...] = (
    "experiment", "scenario", "baseline", "year", "figure", "seeds", "baseline_mean", "scenario_mean",
    "effect_mean", "effect_se", "effect_ci_low", "effect_ci_high", "unpaired_se", "unpaired_ci_low",
    "unpaired_ci_high", "variance_reduction", "distinguishable_from_zero",
)


def baseline_label(label: str, baselines: list[str]) -> str | None:
    """The baseline run label a scenario label is compared with, or None.

    Labels are ``<scenario>[__<path>=<value>…]``. The baseline is the ``baseline`` label whose
    sweep values are all among the scenario's (a baseline is not repeated for lever sweeps it
    does not have); of several, the one sharing the most values.
    """
    parts = set(label.split(LABEL_SEPARATOR)[1:])
    candidates = [b for b in baselines if set(b.split(LABEL_SEPARATOR)[1:]) <= parts]
    return max(candidates, key=lambda b: len(b.split(LABEL_SEPARATOR)), default=None)


def is_baseline(label: str) -> bool:
    """Whether a run label belongs to the baseline scenario."""
    return label.split(LABEL_SEPARATOR)[0] == BASELINE_SCENARIO


def t_interval(mean: float, se: float, dof: float, confidence: float) -> tuple[float, float]:
    """Two-sided Student-t interval ``mean ± t·se``; zero width when ``se`` is 0."""
    if se == 0 or not np.isfinite(dof):
        return mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
    return mean - half, mean + half


def pair_statistics(scenario: np.ndarray, baseline: np.ndarray, confidence: float = 0.95) -> dict[str, float | str]:
    """Paired and unpaired effect statistics of one figure over seeds (arrays aligned by seed).

    Returns
    -------
    dict
        The numeric columns of the ``effects`` table. ``variance_reduction`` is the unpaired
        variance of the effect over the paired one (NaN when the paired variance is 0).
    """
    n = len(scenario)
    diff = scenario - baseline
    mean = float(diff.mean())
    se = float(diff.std(ddof=1) / np.sqrt(n))
    low, high = t_interval(mean, se, n - 1, confidence)
    var_s, var_b = float(scenario.var(ddof=1)) / n, float(baseline.var(ddof=1)) / n
    unpaired_se = float(np.sqrt(var_s + var_b))
    # Welch–Satterthwaite degrees of freedom for the difference of two independent means.
    welch = (var_s + var_b) ** 2 / ((var_s**2 + var_b**2) / (n - 1)) if var_s + var_b > 0 else np.inf
    u_low, u_high = t_interval(mean, unpaired_se, welch, confidence)
    return {
        "seeds": n,
        "baseline_mean": float(baseline.mean()),
        "scenario_mean": float(scenario.mean()),
        "effect_mean": mean,
        "effect_se": se,
        "effect_ci_low": low,
        "effect_ci_high": high,
        "unpaired_se": unpaired_se,
        "unpaired_ci_low": u_low,
        "unpaired_ci_high": u_high,
        "variance_reduction": unpaired_se**2 / se**2 if se > 0 else np.nan,
        "distinguishable_from_zero": "yes" if low > 0 or high < 0 else "no",
    }


def paired_effects(
    summary: pd.DataFrame,
    *,
    figures: tuple[str, ...] = EFFECT_FIGURES,
    years: list[int] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each scenario's effect against its baseline, per year and figure, over the seeds both ran.

    Parameters
    ----------
    summary
        The combined ``summary`` table (``experiment, scenario, seed, year`` and the figures).
    figures
        Summary columns to compare.
    years
        Years to report (default: every year in the table).
    confidence
        Coverage of the intervals.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EFFECT_COLUMNS`; empty when there is no baseline scenario or fewer
        than two seeds are shared with it.
    """
    if years is not None:
        summary = summary[summary["year"].isin(years)]
    labels = sorted(summary["scenario"].unique())
    baselines = [label for label in labels if is_baseline(label)]
    rows = []
    for label in labels:
        reference = None if is_baseline(label) else baseline_label(label, baselines)
        if reference is None:
            continue
        merged = summary[summary["scenario"] == label].merge(
            summary[summary["scenario"] == reference], on=["experiment", "seed", "year"], suffixes=("", "_base")
        )
        for (experiment, year), pairs in merged.groupby(["experiment", "year"], sort=True):
            if len(pairs) < 2:
                continue
            for figure in figures:
                stats_row = pair_statistics(pairs[figure].to_numpy(float), pairs[f"{figure}_base"].to_numpy(float), confidence)
                rows.append({"experiment": experiment, "scenario": label, "baseline": reference, "year": int(year),
                             "figure": figure, **stats_row})
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))


#: Figures of :func:`effects_markdown` and how each is shown (scale, unit).
SHOWN_FIGURES: dict[str, tuple[float, str]] = {"share_car": (100.0, "pp"), "co2_territorial_t": (1.0, "t")}


def effects_markdown(effects: pd.DataFrame, year: int, shown: dict[str, tuple[float, str]] = SHOWN_FIGURES) -> str:
    """A Markdown table of the effects in ``year``: paired mean and interval, unpaired interval, verdict."""
    lines = ["| scenario | figure | paired effect [95 % CI] | unpaired 95 % CI | variance reduction | distinguishable from 0 |",
             "|---|---|---|---|---|---|"]
    rows = effects[(effects["year"] == year) & effects["figure"].isin(list(shown))]
    for row in rows.itertuples():
        scale, unit = shown[row.figure]
        reduction = "∞ (paired variance 0)" if pd.isna(row.variance_reduction) else f"{row.variance_reduction:.1f}×"
        lines.append(
            f"| {row.scenario} | {row.figure} | {scale * row.effect_mean:+.2f} {unit} "
            f"[{scale * row.effect_ci_low:+.2f}, {scale * row.effect_ci_high:+.2f}] "
            f"| [{scale * row.unpaired_ci_low:+.2f}, {scale * row.unpaired_ci_high:+.2f}] | {reduction} "
            f"| {row.distinguishable_from_zero} |"
        )
    return "\n".join(lines)
