"""The emissions inventory and the emission factors of a run, from its existing output tables.

Two additional output tables (docs/outputs.md), built by pure functions that read the ``energy``
and ``co2`` tables and the run's emission factors and change neither:

- :func:`inventory_table`: one row per accounting, inventory category (GPC sub-sector and scope,
  IPCC code), source, powertrain, energy carrier, road category, area, traffic type and road
  user; energy in MJ and MWh; fossil, biogenic and combustion CO2, CH4, N2O and CO2e in separate
  columns. A plug-in hybrid's petrol and electricity are separate rows, as in ``energy``.
- :func:`factors_table`: per run and year, the factors behind it (fuel CO2, biofuel shares, CH4
  and N2O, grid intensity, public-transport CO2e per passenger-km, GWP100).

Codes (facts ``demand-fleet-appraisal.md`` §7): GPC sub-sectors II.1 on-road and II.2 railways
(numbering marked U there), scopes 1 (fuel burnt in the boundary), 2 (grid electricity used in the
boundary) and 3 (outside the boundary, caused by residents) (R); IPCC 1.A.3.b.i passenger cars,
1.A.3.b.iii heavy-duty vehicles incl. buses, 1.A.3.c railways (R).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.emissions import (
    ACCOUNTINGS,
    MJ_PER_KWH,
    TRANSIT_MODES,
    TRANSIT_POWERTRAIN,
    EmissionFactors,
    biofuel_energy_share,
    electricity_intensity_g_per_kwh,
    energy_co2_t,
    transit_g_per_pkm,
)
from model.errors import VmobError

#: The run keys (as ``model.outputs.RUN_KEYS``, which imports this module's vocabulary).
RUN_KEYS: tuple[str, ...] = ("experiment", "scenario", "seed", "year")
#: Energy carriers of the inventory (energy in MJ, so the carrier names carry no unit).
INVENTORY_CARRIERS: tuple[str, ...] = ("petrol", "diesel", "electricity")
#: Road category of public-transport rows, whose source factor has none.
NO_ROAD_CATEGORY = "none"
#: GPC sub-sector and IPCC category of each source.
GPC_SUBSECTOR: dict[str, str] = {"car": "II.1", "van": "II.1", "truck": "II.1", "bus": "II.1", "s_train": "II.2", "light_rail": "II.2"}
IPCC_CODE: dict[str, str] = {
    "car": "1.A.3.b.i", "van": "1.A.3.b.ii", "truck": "1.A.3.b.iii", "bus": "1.A.3.b.iii", "s_train": "1.A.3.c", "light_rail": "1.A.3.c",
}
GPC_CODES: tuple[str, ...] = tuple(f"{sub}.{scope}" for sub in ("II.1", "II.2") for scope in (1, 2, 3))
IPCC_CODES: tuple[str, ...] = tuple(dict.fromkeys(IPCC_CODE.values()))
#: Key columns of the inventory table after the run keys.
INVENTORY_KEYS: list[str] = [
    "accounting", "source", "powertrain", "carrier", "road_category", "area", "traffic", "road_user",
]
#: Value columns of the inventory table.
INVENTORY_VALUES: list[str] = [
    "energy_mj", "energy_mwh", "co2_fossil_t", "co2_biogenic_t", "co2_combustion_t", "ch4_t", "n2o_t", "co2e_t",
]
_CARRIER_OF = {"petrol_l": "petrol", "diesel_l": "diesel", "electricity_kwh": "electricity"}
_MJ_PER_MWH = 3600.0


def _scope(area: pd.Series, carrier: pd.Series) -> pd.Series:
    """GPC scope: 3 outside the boundary, else 1 for fuel burnt and 2 for grid electricity."""
    inside = np.where(carrier == "electricity", 2, 1)
    return pd.Series(np.where(area == "inside", inside, 3), index=area.index, dtype="int64")


def _by_accounting(rows: pd.DataFrame) -> pd.DataFrame:
    """Territorial (inside the boundary) and resident (residents anywhere) copies of the rows."""
    territorial = rows[rows["area"] == "inside"].assign(accounting="territorial")
    resident = rows[rows["road_user"] == "resident"].assign(accounting="resident")
    return pd.concat([territorial, resident], ignore_index=True)


def _road_rows(energy: pd.DataFrame, factors: EmissionFactors) -> pd.DataFrame:
    """Inventory values of each ``energy`` row, before the accountings."""
    missing = [c for c in (*RUN_KEYS, "vehicle", "powertrain", "road_category", "area", "traffic", "road_user",
                           "carrier", "amount", "energy_mj") if c not in energy.columns]
    if missing:
        raise VmobError(f"The energy table lacks the column '{missing[0]}'.")
    parts = []
    for year, rows in energy.groupby("year", sort=True):
        year = int(year)
        out = rows.drop(columns=["amount"]).rename(columns={"vehicle": "source"})
        out["carrier"] = rows["carrier"].map(_CARRIER_OF)
        out["co2_fossil_t"] = energy_co2_t(rows, year, factors)
        fuel = out["carrier"] != "electricity"
        combustion = pd.Series(np.nan, index=rows.index)
        biogenic = pd.Series(np.nan, index=rows.index)
        ch4 = pd.Series(np.nan, index=rows.index)
        n2o = pd.Series(np.nan, index=rows.index)
        for name in ("petrol", "diesel"):
            is_fuel = out["carrier"] == name
            constants = getattr(factors.fuels, name)
            # Pump litres hold fossil-fuel energy; the blend's biofuel part is taken to emit as much
            # CO2 per MJ as the fuel it replaces (the same approximation as the counted CO2).
            combustion[is_fuel] = rows.loc[is_fuel, "amount"] * constants.co2_kg_per_l / 1000.0
            biogenic[is_fuel] = combustion[is_fuel] * biofuel_energy_share(name, year, factors)
            non_co2 = getattr(factors.non_co2, name)
            ch4[is_fuel] = rows.loc[is_fuel, "energy_mj"] * non_co2.ch4_kg_per_tj / 1e9
            n2o[is_fuel] = rows.loc[is_fuel, "energy_mj"] * non_co2.n2o_kg_per_tj / 1e9
        out["co2_biogenic_t"] = biogenic
        out["co2_combustion_t"] = combustion
        out["ch4_t"] = ch4
        out["n2o_t"] = n2o
        weighted = factors.non_co2.gwp100_ch4 * ch4 + factors.non_co2.gwp100_n2o * n2o
        # The grid intensity series carries no separate CH4 and N2O: its value is the line's CO2e.
        out["co2e_t"] = out["co2_fossil_t"] + weighted.where(fuel, 0.0)
        parts.append(out)
    if not parts:
        return pd.DataFrame(columns=[*RUN_KEYS, *INVENTORY_KEYS[1:], *INVENTORY_VALUES])
    return pd.concat(parts, ignore_index=True)


def _transit_rows(co2: pd.DataFrame) -> pd.DataFrame:
    """Public-transport rows of ``co2`` (already per accounting): CO2e only, no energy."""
    # Bus vehicle-km rows share the source name "bus" but carry a road powertrain; they come from energy.
    rows = co2[co2["source"].isin(TRANSIT_MODES) & (co2["powertrain"] == TRANSIT_POWERTRAIN)]
    return pd.DataFrame({
        **{k: rows[k].to_numpy() for k in (*RUN_KEYS, "accounting", "source", "area", "traffic", "road_user")},
        "powertrain": TRANSIT_POWERTRAIN, "carrier": "electricity", "road_category": NO_ROAD_CATEGORY,
        "energy_mj": np.nan, "co2_fossil_t": np.nan, "co2_biogenic_t": np.nan, "co2_combustion_t": np.nan,
        "ch4_t": np.nan, "n2o_t": np.nan, "co2e_t": rows["co2_t"].to_numpy(dtype=float),
    })


def inventory_table(energy: pd.DataFrame, co2: pd.DataFrame, factors: EmissionFactors) -> pd.DataFrame:
    """The tidy emissions inventory of a run from its ``energy`` and ``co2`` tables.

    Road rows come from ``energy`` (one per carrier, so a plug-in hybrid has a petrol and an
    electricity row), public-transport rows from ``co2`` (their source factor is g CO2e per
    passenger-km, so only ``co2e_t`` is filled). Each row is placed in the two accountings as in
    ``co2``: territorial (``area == inside``) and resident (``road_user == resident``).

    Parameters
    ----------
    energy, co2
        The run's tables in contract layout (with the run keys).
    factors
        The run's emission factors.

    Returns
    -------
    pandas.DataFrame
        Run keys, ``accounting, gpc_code, gpc_subsector, gpc_scope, ipcc_code, source, powertrain,
        carrier, road_category, area, traffic, road_user`` and the values ``energy_mj, energy_mwh,
        co2_fossil_t, co2_biogenic_t, co2_combustion_t, ch4_t, n2o_t, co2e_t`` (t/year; empty where
        the line has no such quantity: see docs/outputs.md).

    Raises
    ------
    VmobError
        A missing column or a year without factors (naming it).
    """
    road = _by_accounting(_road_rows(energy, factors))
    rows = pd.concat([road, _transit_rows(co2)], ignore_index=True)
    rows["energy_mwh"] = rows["energy_mj"] / _MJ_PER_MWH
    rows["gpc_subsector"] = rows["source"].map(GPC_SUBSECTOR)
    rows["gpc_scope"] = _scope(rows["area"], rows["carrier"])
    rows["gpc_code"] = rows["gpc_subsector"] + "." + rows["gpc_scope"].astype(str)
    rows["ipcc_code"] = rows["source"].map(IPCC_CODE)
    keys = [*RUN_KEYS, *INVENTORY_KEYS]
    order = [*RUN_KEYS, "accounting", "gpc_code", "gpc_subsector", "gpc_scope", "ipcc_code", *INVENTORY_KEYS[1:],
             *INVENTORY_VALUES]
    rows["accounting"] = pd.Categorical(rows["accounting"], categories=list(ACCOUNTINGS))
    out = rows[order].sort_values(keys, kind="stable", ignore_index=True)
    out["accounting"] = out["accounting"].astype(str)
    return out


def factors_table(run_years: pd.DataFrame, factors: EmissionFactors) -> pd.DataFrame:
    """The run's emission factors, one row per run and year (one unit per column).

    Parameters
    ----------
    run_years
        The run keys ``experiment, scenario, seed, year`` (e.g. those of ``summary``).
    factors
        The run's emission factors.

    Returns
    -------
    pandas.DataFrame
        Columns of ``SCHEMAS["factors"]`` in docs/outputs.md.
    """
    rows = []
    non_co2 = factors.non_co2
    for keys in run_years[list(RUN_KEYS)].drop_duplicates().itertuples(index=False):
        year = int(keys.year)
        row: dict[str, object] = dict(zip(RUN_KEYS, keys, strict=True))
        for name in ("petrol", "diesel"):
            fuel = getattr(factors.fuels, name)
            share = biofuel_energy_share(name, year, factors)
            row[f"{name}_energy_mj_per_l"] = 1.0 / fuel.litres_per_mj
            row[f"{name}_co2_combustion_kg_per_l"] = fuel.co2_kg_per_l
            row[f"{name}_biofuel_energy_share"] = share
            row[f"{name}_co2_fossil_kg_per_l"] = fuel.co2_kg_per_l * (1.0 - share)
            row[f"{name}_ch4_kg_per_tj"] = getattr(non_co2, name).ch4_kg_per_tj
            row[f"{name}_n2o_kg_per_tj"] = getattr(non_co2, name).n2o_kg_per_tj
        row["electricity_co2_g_per_kwh"] = electricity_intensity_g_per_kwh(year, factors)
        row["electricity_mj_per_kwh"] = MJ_PER_KWH
        for mode in TRANSIT_MODES:
            row[f"{mode}_co2e_g_per_pkm"] = transit_g_per_pkm(mode, year, factors)
        row["gwp100_ch4"] = non_co2.gwp100_ch4
        row["gwp100_n2o"] = non_co2.gwp100_n2o
        rows.append(row)
    return pd.DataFrame(rows)
