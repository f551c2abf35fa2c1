"""The municipal account's method beside COPERT: vehicle-km by road type times national average factors.

Energistyrelsen's municipal "Energi- og CO2-regnskab" is the account a Danish municipality
reports in; issue 17 describes its road-transport method as the vehicle-km by road type times
national average emission factors. This module computes that account from a run's own tables so
that it can be set beside the model's COPERT figures (speed on each link, the local fleet):

- activity: every vehicle-km inside the municipal boundary (``vehicle_km`` with ``area ==
  "inside"``, all traffic types, motorway through traffic included), by vehicle class and road
  category, each road category mapped to a road type (``municipal_account.toml``);
- factor: per vehicle class, road type and year, the national fleet's powertrain shares (the
  ``national`` segment of the ``fleet`` table) times each powertrain's counted CO2 per km
  (:func:`model.emissions.co2_g_per_km`) at the road type's national average speed.

What ENS itself does is not known (which vehicle-km, which factors, whether through traffic is
in; ``docs/emissions.md``, "The municipal account's method beside COPERT"). The functions are pure: tables and parameters in, a table out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from pydantic import field_validator

from model.emissions import EmissionFactors, co2_g_per_km
from model.errors import VmobError
from model.files import StrictModel
from model.vocabulary import ACCOUNT_ROAD_TYPES, ROAD_CATEGORIES, VEHICLES

RUN_KEYS: tuple[str, ...] = ("experiment", "scenario", "seed", "year")
#: Columns of the ``municipal_account`` table, in order.
COLUMNS: tuple[str, ...] = (
    *RUN_KEYS, "vehicle", "road_category", "road_type", "vkm_per_year", "speed_kph", "co2_g_per_vkm", "co2_t", "co2_model_t",
)
_GROUP = [*RUN_KEYS, "vehicle", "road_category"]

#: The fleet segment whose shares stand for a class's national stock when the fleet table has no
#: ``national`` rows for it (buses: the regional lines under the EU clean-bus rule; assumption).
NATIONAL_PROXY_SEGMENT = "regional"


class MunicipalAccountParameters(StrictModel):
    """``municipal_account.toml``: road type of each road category, national average speed of each road type."""

    road_type: dict[str, str]
    speed_kph: dict[str, float]

    @field_validator("road_type")
    @classmethod
    def _every_category(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [c for c in ROAD_CATEGORIES if c not in value]
        unknown = [c for c in value if c not in ROAD_CATEGORIES]
        bad = [t for t in value.values() if t not in ACCOUNT_ROAD_TYPES]
        if missing or unknown:
            raise ValueError(f"needs exactly the road categories {', '.join(ROAD_CATEGORIES)} "
                             f"({'missing ' + missing[0] if missing else 'unknown ' + unknown[0]})")
        if bad:
            raise ValueError(f"unknown road type '{bad[0]}' (known: {', '.join(ACCOUNT_ROAD_TYPES)})")
        return value

    @field_validator("speed_kph")
    @classmethod
    def _every_road_type(cls, value: dict[str, float]) -> dict[str, float]:
        if sorted(value) != sorted(ACCOUNT_ROAD_TYPES):
            raise ValueError(f"needs exactly the road types {', '.join(ACCOUNT_ROAD_TYPES)}")
        if any(not 5.0 <= v <= 130.0 for v in value.values()):
            raise ValueError("speeds must lie in 5-130 km/h (the COPERT curves' range)")
        return value


def national_factors(fleet: pd.DataFrame, factors: EmissionFactors, account: MunicipalAccountParameters) -> pd.DataFrame:
    """National average counted CO2 per vehicle-km by run, year, vehicle class and road type.

    Parameters
    ----------
    fleet
        The run's ``fleet`` table; its ``national`` segment's ``stock_share`` is used (for a class
        without one, buses, the :data:`NATIONAL_PROXY_SEGMENT`'s).
    factors
        Emission factors of the run.
    account
        Road types and their national average speeds.

    Returns
    -------
    pandas.DataFrame
        ``experiment, scenario, seed, year, vehicle, road_type, speed_kph, co2_g_per_vkm``.

    Raises
    ------
    VmobError
        A vehicle class of the fleet table has no national segment.
    """
    national = fleet[fleet["segment"] == "national"]
    # Buses have no national segment (model/fleet.py: municipal and regional lines); the regional
    # lines, which follow the EU clean-bus rule, stand in for the national bus stock (assumption).
    proxy = fleet[(fleet["segment"] == NATIONAL_PROXY_SEGMENT) & ~fleet["vehicle"].isin(national["vehicle"].unique())]
    national = pd.concat([national, proxy], ignore_index=True)
    rows = []
    for road_type in ACCOUNT_ROAD_TYPES:
        speed = account.speed_kph[road_type]
        for (vehicle, powertrain, year), part in national.groupby(["vehicle", "powertrain", "year"], sort=False):
            g = float(co2_g_per_km(str(powertrain), speed, int(year), factors, vehicle=str(vehicle)))
            rows.append(part[[*RUN_KEYS, "vehicle"]].assign(road_type=road_type, speed_kph=speed,
                                                            co2_g_per_vkm=part["stock_share"].to_numpy() * g))
    if not rows:
        raise VmobError("The fleet table has no national segment: the municipal account needs the national fleet shares.")
    weighted = pd.concat(rows, ignore_index=True)
    return weighted.groupby([*RUN_KEYS, "vehicle", "road_type", "speed_kph"], as_index=False, sort=False)["co2_g_per_vkm"].sum()


def municipal_account_table(
    vehicle_km: pd.DataFrame,
    fleet: pd.DataFrame,
    inventory: pd.DataFrame,
    factors: EmissionFactors,
    account: MunicipalAccountParameters,
) -> pd.DataFrame:
    """The municipal account of a run: inside vehicle-km by road type times national average factors.

    Parameters
    ----------
    vehicle_km, fleet, inventory
        The run's tables (contract layout, with the run keys).
    factors
        Emission factors of the run.
    account
        Road types and their national average speeds (``municipal_account.toml``).

    Returns
    -------
    pandas.DataFrame
        One row per run, year, vehicle class and road category driven inside the boundary
        (:data:`COLUMNS`): ``co2_t = vkm_per_year × co2_g_per_vkm / 10⁶``; ``co2_model_t`` is the
        model's own territorial road CO2 of the same rows (``inventory.co2_fossil_t``, COPERT at
        the driven speeds with the local fleet), so the two methods stand side by side.

    Raises
    ------
    VmobError
        A vehicle class driven inside the boundary has no national fleet shares.
    """
    inside = vehicle_km[vehicle_km["area"] == "inside"]
    vkm = inside.groupby(_GROUP, as_index=False, sort=True)["vkm_per_year"].sum()
    vkm["road_type"] = vkm["road_category"].map(account.road_type)
    out = vkm.merge(national_factors(fleet, factors, account), on=[*RUN_KEYS, "vehicle", "road_type"], how="left")
    if out["co2_g_per_vkm"].isna().any():
        first = out[out["co2_g_per_vkm"].isna()].iloc[0]
        raise VmobError(f"No national fleet shares for {first['vehicle']} in {first['year']}: "
                        "the municipal account cannot weigh its factor.")
    out["co2_t"] = out["vkm_per_year"] * out["co2_g_per_vkm"] / 1e6
    road = inventory[(inventory["accounting"] == "territorial") & inventory["source"].isin(VEHICLES)]
    model = road.rename(columns={"source": "vehicle"}).groupby(_GROUP)["co2_fossil_t"].sum().rename("co2_model_t")
    out = out.join(model, on=_GROUP)
    out["co2_model_t"] = out["co2_model_t"].fillna(0.0)
    return out[list(COLUMNS)]


def comparison(account: pd.DataFrame, year: int) -> pd.DataFrame:
    """The two methods side by side in one year: by vehicle class and road type, and in total.

    Means across the seeds and scenarios in ``account`` (pass one scenario's rows for a scenario).

    Parameters
    ----------
    account
        A ``municipal_account`` table.
    year
        The year compared.

    Returns
    -------
    pandas.DataFrame
        ``vehicle, road_type, vkm_per_year, co2_g_per_vkm, co2_t, co2_model_t, difference_t,
        difference_pct`` (``co2_t − co2_model_t``, relative to the model), a last row ``total``;
        ``co2_g_per_vkm`` is the vkm-weighted national factor.

    Raises
    ------
    VmobError
        The table has no row for the year.
    """
    rows = account[account["year"] == year]
    if rows.empty:
        raise VmobError(f"The municipal account has no rows for {year} (years {account['year'].min()}-{account['year'].max()}).")
    runs = rows[["experiment", "scenario", "seed"]].drop_duplicates().shape[0]
    values = ["vkm_per_year", "co2_t", "co2_model_t"]
    order = {t: i for i, t in enumerate(ACCOUNT_ROAD_TYPES)}
    by = rows.groupby(["vehicle", "road_type"], as_index=False)[values].sum()
    by = by.sort_values(["vehicle", "road_type"], key=lambda c: c.map(order) if c.name == "road_type" else c)
    total = pd.DataFrame([{"vehicle": "total", "road_type": "all", **{v: by[v].sum() for v in values}}])
    out = pd.concat([by, total], ignore_index=True)
    out[values] = out[values] / runs
    out["co2_g_per_vkm"] = 1e6 * out["co2_t"] / out["vkm_per_year"].where(out["vkm_per_year"] > 0)
    out["difference_t"] = out["co2_t"] - out["co2_model_t"]
    out["difference_pct"] = 100.0 * out["difference_t"] / out["co2_model_t"].where(out["co2_model_t"] > 0)
    return out[["vehicle", "road_type", "vkm_per_year", "co2_g_per_vkm", "co2_t", "co2_model_t", "difference_t", "difference_pct"]]


def comparison_markdown(table: pd.DataFrame) -> str:
    """A :func:`comparison` table as Markdown (million vkm, g/vkm, tonnes, %)."""
    lines = [
        "| vehicle | road type | million vkm | national factor, g CO2/vkm | municipal account, t CO2 "
        "| model (COPERT), t CO2 | difference, t | difference, % |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples(index=False):
        pct = "" if pd.isna(r.difference_pct) else f"{round(r.difference_pct, 1) + 0.0:+.1f}"  # no "-0.0"
        factor = "" if pd.isna(r.co2_g_per_vkm) else f"{r.co2_g_per_vkm:.0f}"
        lines.append(f"| {r.vehicle} | {r.road_type} | {r.vkm_per_year / 1e6:,.1f} | {factor} | {r.co2_t:,.0f} | "
                     f"{r.co2_model_t:,.0f} | {round(r.difference_t) + 0:+,d} | {pct} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m model.municipal_account RESULTS [--year 2019] [--scenario NAME]``: print the comparison."""
    from model.outputs import read_tables

    parser = argparse.ArgumentParser(description="The municipal account's method beside the model's COPERT figures.")
    parser.add_argument("results", type=Path, help="a results folder written by vmob run (e.g. results/baseline)")
    parser.add_argument("--year", type=int, default=2019)
    parser.add_argument("--scenario", default=None, help="one scenario label (default: the first)")
    args = parser.parse_args(argv)
    tables = read_tables(args.results)
    if "municipal_account" not in tables:
        raise SystemExit(f"{args.results}: no municipal_account table; run the experiment again with this version.")
    account = tables["municipal_account"]
    scenario = args.scenario or str(account["scenario"].iloc[0])
    print(comparison_markdown(comparison(account[account["scenario"] == scenario], args.year)), end="")


if __name__ == "__main__":
    main()
