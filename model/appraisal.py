"""Cost-effectiveness of lever groups: kr per tonne CO2, co-benefit values and who decides.

Pure functions of the ``summary``, ``mode_split`` and ``vehicle_km`` tables, the levers of each
scenario (with their optional ``cost`` and ``decided_by``, :class:`model.levers.LeverCost`) and
the experiment's ``discount_rate``. The report (:mod:`model.report`) shows what they return.

Method (docs/report.md, "Cost per tonne"): a lever's investment is annualised over its lifetime
at the discount rate and, with its yearly operation, counted in every simulated year in which
the lever is in force; the CO2 saved is the scenario's territorial CO2 below its baseline's,
paired seed by seed and averaged. Cost per tonne = present value of the costs / present value
of the tonnes saved (discounted tonnes, a levelised cost of abatement), both over the years
from the group's first lever to the last simulated year, discounted to the experiment's first
year. Scenarios whose saving is not above zero get no cost per tonne.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.cobenefits import RUN_KEYS
from model.effects import LABEL_SEPARATOR, baseline_label, is_baseline, pair_statistics
from model.levers import DECIDERS, Lever
from model.settings import REFERENCE_MONTH_DAY

#: Figure whose saving is appraised: the plan's accounting (everything emitted inside the boundary).
SAVED_FIGURE = "co2_territorial_t"
#: Decision tag of a group whose levers have no tag.
UNTAGGED = "not tagged"


def first_year_in_force(start: dt.date) -> int:
    """The first year whose reference date (1 July) is on or after ``start`` (as levers apply)."""
    month, day = REFERENCE_MONTH_DAY
    return start.year if dt.date(start.year, month, day) >= start else start.year + 1


def annuity(investment: float, rate: float, lifetime: int) -> float:
    """The equal yearly payment over ``lifetime`` years whose present value is ``investment``."""
    if rate == 0:
        return investment / lifetime
    return investment * rate / (1.0 - (1.0 + rate) ** -lifetime)


def discount_factors(years: Iterable[int], rate: float, base_year: int) -> np.ndarray:
    """``(1 + rate) ** -(year − base_year)`` per year."""
    return (1.0 + rate) ** -(np.asarray(list(years), dtype=float) - base_year)


def lever_costs(lever: Lever, years: Iterable[int], rate: float) -> np.ndarray:
    """A lever's yearly cost (annualised investment + operation) in each of ``years``; 0 before it is in force.

    A lever without ``cost`` costs nothing here (the report says which groups have no costs).
    """
    years = np.asarray(list(years), dtype=int)
    if lever.cost is None:
        return np.zeros(len(years))
    yearly = annuity(lever.cost.investment_dkk, rate, lever.cost.lifetime_years) + lever.cost.operation_dkk_per_year
    return np.where(years >= first_year_in_force(lever.start), yearly, 0.0)


def scenario_name(label: str) -> str:
    """The scenario of a run label (``<scenario>[__<sweep values>]``)."""
    return label.split(LABEL_SEPARATOR)[0]


def paired_changes(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Each non-baseline label's mean change against its baseline per year, paired seed by seed.

    Returns
    -------
    pandas.DataFrame
        ``scenario`` (the run label), ``year`` and ``columns`` (scenario − baseline, mean over
        the seeds both ran; the means are compared when they share no seed).
    """
    labels = sorted(table["scenario"].unique())
    baselines = [label for label in labels if is_baseline(label)]
    frames = []
    for label in labels:
        reference = None if is_baseline(label) else baseline_label(label, baselines)
        if reference is None:
            continue
        own = table[table["scenario"] == label].set_index(["seed", "year"])[columns]
        base = table[table["scenario"] == reference].set_index(["seed", "year"])[columns]
        common = own.index.intersection(base.index)
        if common.empty:
            diff = own.groupby(level="year").mean() - base.groupby(level="year").mean()
        else:
            diff = (own.loc[common] - base.loc[common]).groupby(level="year").mean()
        frames.append(diff.dropna().reset_index().assign(scenario=label))
    if not frames:
        return pd.DataFrame(columns=["scenario", "year", *columns])
    return pd.concat(frames, ignore_index=True)[["scenario", "year", *columns]]


def not_distinguishable(table: pd.DataFrame, columns: list[str], year: int) -> set[tuple[str, str]]:
    """``(label, column)`` pairs whose paired change in ``year`` has a 95 % interval containing zero.

    The rule of :func:`model.effects.pair_statistics`, over the seeds a label shares with its
    baseline; labels with fewer than two shared seeds are not judged (not in the set).
    """
    part = table[table["year"] == year]
    labels = sorted(part["scenario"].unique())
    baselines = [label for label in labels if is_baseline(label)]
    found = set()
    for label in labels:
        reference = None if is_baseline(label) else baseline_label(label, baselines)
        if reference is None:
            continue
        pairs = part[part["scenario"] == label].merge(part[part["scenario"] == reference], on="seed", suffixes=("", "_base"))
        if len(pairs) < 2:
            continue
        for column in columns:
            stats = pair_statistics(pairs[column].to_numpy(float), pairs[f"{column}_base"].to_numpy(float))
            if stats["distinguishable_from_zero"] == "no":
                found.add((label, column))
    return found


def savings(summary: pd.DataFrame, figure: str = SAVED_FIGURE) -> pd.DataFrame:
    """Tonnes saved per scenario label and year: baseline − scenario (``scenario, year, saved_t``)."""
    changes = paired_changes(summary, [figure])
    return changes.assign(saved_t=-changes[figure])[["scenario", "year", "saved_t"]]


@dataclass(frozen=True)
class GroupAppraisal:
    """The cost-effectiveness of one lever group (a scenario against its baseline)."""

    scenario: str
    decided_by: str
    costed: bool
    first_year: int | None
    cost_pv_dkk: float
    saved_pv_t: float
    saved_t: float
    cobenefit_pv_dkk: float

    @property
    def dkk_per_t(self) -> float | None:
        """Present value of the costs over the discounted tonnes; None without costs or without a saving."""
        if not self.costed or self.saved_pv_t <= 0:
            return None
        return self.cost_pv_dkk / self.saved_pv_t


def decision_of(levers: Iterable[Lever]) -> str:
    """The decision tag of a group: its levers' common tag, the tags joined by " + " when they differ."""
    tags = sorted({lever.decided_by or UNTAGGED for lever in levers}, key=_tag_order)
    return " + ".join(tags) if tags else UNTAGGED


def _tag_order(tag: str) -> int:
    return DECIDERS.index(tag) if tag in DECIDERS else len(DECIDERS)


def appraise(
    saved: pd.DataFrame,
    levers: Mapping[str, list[Lever]],
    rate: float,
    base_year: int,
    cobenefit_value: pd.DataFrame | None = None,
    year: int | None = None,
) -> list[GroupAppraisal]:
    """Cost per tonne of every scenario label in ``saved`` (see the module docstring).

    Parameters
    ----------
    saved
        :func:`savings`: ``scenario, year, saved_t``.
    levers
        Scenario name → its levers.
    rate
        Yearly discount rate.
    base_year
        Year the present values refer to (the experiment's first year).
    cobenefit_value
        ``scenario, year, value_dkk``: the yearly value of the co-benefits against the baseline.
    year
        Year of the ``saved_t`` shown (default: the last year).
    """
    rows = []
    for label, part in saved.groupby("scenario", sort=False):
        group = levers.get(scenario_name(str(label)), [])
        years = part["year"].to_numpy(int)
        starts = [first_year_in_force(lever.start) for lever in group]
        first = min(starts) if starts else None
        window = years >= first if first is not None else np.zeros(len(years), bool)
        factors = discount_factors(years, rate, base_year)
        costs = sum((lever_costs(lever, years, rate) for lever in group), np.zeros(len(years)))
        value = 0.0
        if cobenefit_value is not None:
            own = cobenefit_value[cobenefit_value["scenario"] == label].set_index("year")["value_dkk"]
            value = float((own.reindex(years).fillna(0.0).to_numpy() * factors * window).sum())
        shown = part[part["year"] == (year if year is not None else years.max())]["saved_t"]
        rows.append(GroupAppraisal(
            scenario=str(label),
            decided_by=decision_of(group),
            costed=any(lever.cost is not None for lever in group),
            first_year=first,
            cost_pv_dkk=float((costs * factors).sum()),
            saved_pv_t=float((part["saved_t"].to_numpy(float) * factors * window).sum()),
            saved_t=float(shown.mean()) if not shown.empty else float("nan"),
            cobenefit_pv_dkk=value,
        ))
    return rows


def packages(levers: Mapping[str, list[Lever]]) -> set[str]:
    """Scenarios that hold the levers of at least two other (non-baseline) scenarios: packages, not groups."""
    keys = {name: {lever.model_dump_json() for lever in group} for name, group in levers.items()}
    found = set()
    for name, own in keys.items():
        parts = [other for other, theirs in keys.items() if other != name and theirs and theirs <= own]
        if len(parts) >= 2:
            found.add(name)
    return found


def decision_split(rows: list[GroupAppraisal], package_names: set[str]) -> pd.DataFrame:
    """The saving of the single lever groups by who decides them.

    Packages (:func:`packages`) are left out: their levers are counted in their groups. The
    shares are of the sum of the groups' savings; the groups overlap and interact, so the sum
    is not the package's saving.

    Returns
    -------
    pandas.DataFrame
        ``decided_by, groups, saved_t, share`` (share of the sum of positive savings).
    """
    groups = [r for r in rows if scenario_name(r.scenario) not in package_names and np.isfinite(r.saved_t)]
    frame = pd.DataFrame({"decided_by": [r.decided_by for r in groups], "scenario": [r.scenario for r in groups],
                          "saved_t": [r.saved_t for r in groups]})
    if frame.empty:
        return pd.DataFrame(columns=["decided_by", "groups", "saved_t", "share"])
    split = frame.groupby("decided_by", sort=False).agg(groups=("scenario", ", ".join), saved_t=("saved_t", "sum"))
    total = split["saved_t"].clip(lower=0.0).sum()
    split["share"] = split["saved_t"].clip(lower=0.0) / total if total > 0 else np.nan
    split = split.reset_index()
    return split.sort_values("decided_by", key=lambda s: s.map(lambda t: min(_tag_order(p) for p in t.split(" + "))),
                             kind="stable").reset_index(drop=True)


def cobenefit_changes(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Co-benefits of each scenario label against its baseline per year (``scenario, year, columns``)."""
    return paired_changes(table[[*RUN_KEYS, *columns]], columns)
