"""The output-table contract: schemas, writing, reading and reconciliation of the result tables.

The run tables (:data:`TABLES`: ``mode_split``, ``vehicle_km``, ``energy``, ``co2``, ``summary``,
``fleet``, ``ridership``, and ``inventory``, ``factors`` and ``municipal_account`` built from them), each keyed by
``experiment, scenario, seed, year``, and the runner's tables (:data:`DERIVED_TABLES`) are written
as CSV and Parquet next to a Frictionless ``datapackage.json`` (licence, sources, version, foreign
keys) and a planner workbook ``summary.xlsx``. Every table is checked against its Table Schema
before anything is renamed into place. :data:`SCHEMAS` holds one entry per table; the contract is
described in ``docs/outputs.md``, whose tables ``python -m model.outputs_docs`` writes from it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.emissions import ACCOUNTINGS, CARRIERS, CO2_SOURCES, TRANSIT_MODES, TRANSIT_POWERTRAIN
from model.errors import VmobError
from model.inventory import GPC_CODES, INVENTORY_CARRIERS, IPCC_CODES, NO_ROAD_CATEGORY
from model.settings import BASE_YEAR
from model.vocabulary import (
    ACCOUNT_ROAD_TYPES,
    AREAS,
    FLEET_SEGMENTS,
    MODES,
    NO_PURPOSE,
    POWERTRAINS,
    PURPOSES,
    ROAD_CATEGORIES,
    ROAD_USERS,
    TRAFFIC_TYPES,
    VEHICLES,
)

#: Key columns that start every table.
RUN_KEYS: tuple[str, ...] = ("experiment", "scenario", "seed", "year")
#: Excel's row limit per sheet (header included).
_XLSX_MAX_ROWS = 1_048_575

# --------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------


def _field(
    name: str,
    type_: str,
    description: str,
    unit: str = "",
    *,
    enum: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    required: bool = False,
) -> dict[str, Any]:
    """One Frictionless field descriptor; ``unit`` is kept as a custom property."""
    field: dict[str, Any] = {"name": name, "type": type_, "description": description}
    if unit:
        field["unit"] = unit
    constraints: dict[str, Any] = {}
    if enum is not None:
        constraints["enum"] = list(enum)
    if minimum is not None:
        constraints["minimum"] = minimum
    if maximum is not None:
        constraints["maximum"] = maximum
    if required:
        constraints["required"] = True
    if constraints:
        field["constraints"] = constraints
    return field


_KEY_FIELDS = [
    _field("experiment", "string", "Experiment name (the experiment file's name).", required=True),
    _field("scenario", "string", "Scenario name within the experiment.", required=True),
    _field("seed", "integer", "Random seed of the run.", minimum=0, required=True),
    _field("year", "integer", "Simulated year (one model step).", "year", minimum=1990, required=True),
]


def _link_fields() -> list[dict[str, Any]]:
    return [
        _field("vehicle", "string", "Vehicle class.", enum=VEHICLES, required=True),
        _field("powertrain", "string", "Powertrain.", enum=POWERTRAINS, required=True),
        _field(
            "road_category",
            "string",
            "Emission road category of the link (ring = Ring 3 / Søndre Ringvej class).",
            enum=ROAD_CATEGORIES,
            required=True,
        ),
    ]


_GROUP_FIELDS_AFTER = [
    _field("area", "string", "Where the km were driven: inside or outside the municipal boundary.",
           enum=AREAS, required=True),
    _field("traffic", "string",
           "Traffic type: the residents' and commuters' trips by purpose (commute, education, shopping, leisure, "
           "escort, business), other_local (non-residents' visits, customers, deliveries), service (vans serving "
           "homes and firms), bus_service (scheduled buses), municipal_fleet (the municipality's own cars and vans), "
           "through (cars, vans and trucks with neither end in Vallensbæk, estimated from the traffic counts and routed).",
           enum=TRAFFIC_TYPES, required=True),
    _field("road_user", "string", "Whether the driver lives in Vallensbæk.", enum=ROAD_USERS,
           required=True),
]



def _schemas() -> dict[str, dict[str, Any]]:
    mode_split = {
        "fields": [
            *_KEY_FIELDS,
            _field(
                "road_user",
                "string",
                "Commuter group: resident (lives in Vallensbæk, works anywhere) or non_resident (in-commuter working in Vallensbæk).",
                enum=ROAD_USERS,
                required=True,
            ),
            _field("purpose", "string", "Trip purpose: commute (commuters, residents and in-commuters) or a residents' "
                   "purpose of model/vocabulary.py PURPOSES (escort: a parent's car trips for a child's lift).",
                   enum=PURPOSES, required=True),
            _field("mode", "string", "Main mode.", enum=MODES, required=True),
            _field("commuters", "number", "Persons choosing the mode (weighted count): commuters for commute, residents "
                   "making such trips otherwise (0 for escort).", "persons", minimum=0),
            _field("trips_per_weekday", "number", "One-way trips per weekday (other purposes than commute: per average "
                   "day, as trips_per_day).", "trips/day", minimum=0),
            _field("trips_per_day", "number", "One-way trips per average day of the year (commute: weekday trips × "
                   "working days / 365).", "trips/day", minimum=0),
            _field(
                "share",
                "number",
                "Share of the mode: of the group's commuters (commute) or of the purpose's trips (sums to 1 per run, "
                "year, road_user and purpose).",
                "1",
                minimum=0,
                maximum=1,
            ),
            _field("pkm_per_year", "number", "Passenger-km per year by the mode.", "pkm/year", minimum=0),
        ],
        "primaryKey": [*list(RUN_KEYS), "road_user", "purpose", "mode"],
    }
    vkm_keys = [*list(RUN_KEYS), "vehicle", "powertrain", "road_category", "speed_limit_kph", "area", "traffic", "road_user"]
    vehicle_km = {
        "fields": _KEY_FIELDS
        + _link_fields()
        + [_field("speed_limit_kph", "integer", "Posted speed limit of the links.", "km/h", minimum=0,
                  required=True)]
        + _GROUP_FIELDS_AFTER[:2]
        + [_field("purpose", "string", "Trip purpose of the driver: the traffic type for the agents' trips, none for "
                  "visitors and through traffic.", enum=(*PURPOSES, NO_PURPOSE), required=True)]
        + _GROUP_FIELDS_AFTER[2:]
        + [_field("vkm_per_year", "number", "Vehicle-km per year.", "vkm/year", minimum=0)],
        "primaryKey": vkm_keys,
    }
    energy_keys = [*list(RUN_KEYS), "vehicle", "powertrain", "road_category", "area", "traffic", "road_user", "carrier"]
    energy = {
        "fields": _KEY_FIELDS
        + _link_fields()
        + _GROUP_FIELDS_AFTER
        + [
            _field("carrier", "string", "Energy carrier and the unit of amount: petrol_l and "
                   "diesel_l in litres, electricity_kwh in kWh drawn from the grid.", enum=CARRIERS,
                   required=True),
            _field("amount", "number", "Amount of the carrier per year, in the unit named by carrier.",
                   "l/year or kWh/year", minimum=0),
            _field("energy_mj", "number", "Energy content of amount (net calorific value for fuels).",
                   "MJ/year", minimum=0),
        ],
        "primaryKey": energy_keys,
    }
    co2_keys = [*list(RUN_KEYS), "source", "powertrain", "area", "traffic", "road_user", "accounting"]
    co2 = {
        "fields": [
            *_KEY_FIELDS,
            _field("source", "string", "Emitting source.", enum=CO2_SOURCES, required=True),
            _field(
                "powertrain", "string", "Powertrain (electric for rail and bus).", enum=(*POWERTRAINS, TRANSIT_POWERTRAIN), required=True
            ),
            *_GROUP_FIELDS_AFTER,
            _field(
                "accounting",
                "string",
                "territorial: emitted inside the boundary by anyone; resident: emitted anywhere by residents.",
                enum=ACCOUNTINGS,
                required=True,
            ),
            _field("co2_t", "number", "CO2 emitted per year (rail and bus: CO2e).", "t/year", minimum=0),
        ],
        "primaryKey": co2_keys,
    }
    share_fields = [
        _field(f"share_{m}", "number", f"Commuters' mode share of {m}.", "1", minimum=0, maximum=1)
        for m in MODES
    ]
    summary = {
        "fields": _KEY_FIELDS
        + share_fields
        + [
            _field("co2_territorial_t", "number", "Transport CO2 inside the boundary (all sources).",
                   "t/year", minimum=0),
            _field("co2_resident_t", "number", "Transport CO2 of residents, anywhere.", "t/year",
                   minimum=0),
            _field("co2_through_t", "number", "Territorial CO2 of through traffic: trips with neither end in Vallensbæk, "
                   "estimated from the counts (traffic_counts.toml) and routed on any road.", "t/year", minimum=0),
            _field("co2_territorial_change_vs_2019_pct", "number",
                   "Change of co2_territorial_t against the same run's 2019 value; empty without a "
                   "2019 row.", "%"),
            _field("vkm_total_per_year", "number", "All vehicle-km in vehicle_km.", "vkm/year",
                   minimum=0),
            _field("vkm_inside_per_year", "number", "Vehicle-km inside the boundary.", "vkm/year",
                   minimum=0),
            _field("vkm_outside_per_year", "number", "Vehicle-km outside the boundary on the modelled network "
                   "(vkm_total_per_year less vkm_inside_per_year); a lever's change here against its baseline is "
                   "leakage.", "vkm/year", minimum=0),
            _field("co2_outside_t", "number", "Road vehicles' CO2 outside the boundary on the modelled network, "
                   "all road users.", "t/year", minimum=0),
            _field("vkm_evaporated_per_year", "number", "Through vehicle-km not driven because travel times rose "
                   "since 2019 (elastic demand, traffic.toml); negative: induced.", "vkm/year"),
            _field("co2_evaporated_t", "number", "CO2 of vkm_evaporated_per_year at the year's mean CO2 per km "
                   "of through traffic; negative: induced.", "t/year"),
        ],
        "primaryKey": list(RUN_KEYS),
    }
    fleet = {
        "fields": [
            *_KEY_FIELDS,
            _field("vehicle", "string", "Vehicle class.", enum=VEHICLES, required=True),
            _field(
                "segment",
                "string",
                "Fleet segment: resident (residents' commuting cars), in_commuter "
                "(in-commuters' cars), national (the national stock: through traffic, visitors, vans), "
                "municipal (municipally owned bus lines; the municipality's own cars and vans), regional "
                "(regional bus lines).",
                enum=FLEET_SEGMENTS,
                required=True,
            ),
            _field("powertrain", "string", "Powertrain.", enum=POWERTRAINS, required=True),
            _field(
                "stock_share",
                "number",
                "Share of the segment's vehicles with the powertrain (sums to 1 per run, year, vehicle and segment).",
                "1",
                minimum=0,
                maximum=1,
            ),
            _field(
                "new_sales_share",
                "number",
                "Share of the powertrain among the segment's new vehicles bought in the year (the purchase model's "
                "probabilities; empty for buses and the municipal fleet, whose stock_share is a dated path).",
                "1",
                minimum=0,
                maximum=1,
            ),
            _field(
                "stock_vehicles",
                "number",
                "Vehicles of the segment with the powertrain (weighted agents' cars; empty for the national segment).",
                "vehicles",
                minimum=0,
            ),
            _field(
                "new_vehicles",
                "number",
                "New vehicles bought in the year (weighted agents; empty for the national segment).",
                "vehicles/year",
                minimum=0,
            ),
        ],
        "primaryKey": [*list(RUN_KEYS), "vehicle", "segment", "powertrain"],
    }
    ridership = {
        "fields": [
            *_KEY_FIELDS,
            _field("line", "string", "Rail line id of transit.toml (S-train A, E, B, Bx; Letbane L).", required=True),
            _field("station", "string", "Station or stop of transit.toml; 'all' for the whole line.", required=True),
            _field("commuters", "number", "Commuters whose path rides the line and boards or alights at the station "
                   "(the whole line: all its riders).", "persons", minimum=0),
            _field("boardings_per_weekday", "number", "Boardings on the line at the station per weekday, both "
                   "directions (attendance × commuters; two per rider for the whole line).", "boardings/day", minimum=0),
            _field("boardings_per_year", "number", "boardings_per_weekday × working days per year.", "boardings/year",
                   minimum=0),
        ],
        "primaryKey": [*list(RUN_KEYS), "line", "station"],
    }
    # One entry per table: adding a table is one line here (the package, the workbook's columns
    # sheet and docs/outputs.md all read this dictionary).
    return {
        "mode_split": _table("Commuters' mode choice per year: counts, weekday trips, shares and passenger-km.", mode_split),
        "vehicle_km": _table("Vehicle-km per year by vehicle, powertrain, road category, speed limit, area, traffic type "
                             "and road user (the contract to the emissions model).", vehicle_km),
        "energy": _table("Energy use per year by energy carrier (fuel litres or grid kWh) and in MJ.", energy),
        "co2": _table("CO2 per year by source in two accountings (territorial, resident); never add the two.", co2),
        "summary": _table("Headline figures per run and year: mode shares, CO2 totals and change vs 2019.", summary),
        "fleet": _table("Vehicle stock and new registrations per year by vehicle class, fleet segment and powertrain.", fleet),
        "inventory": _table("Emissions inventory per year: GPC and IPCC codes, energy in MJ and MWh, fossil and biogenic "
                            "CO2, CH4, N2O and CO2e in separate columns, by accounting (never add the two).",
                            _inventory_schema()),
        "factors": _table("Emission factors of each run and year: fuel CO2, biofuel shares, CH4 and N2O, grid intensity, "
                          "public-transport CO2e per passenger-km and the GWP100 values.", _factors_schema()),
        "ridership": _table("Commuters riding each rail line and their boardings per station (and per line: station "
                            "'all'), per weekday and year.", ridership),
        "municipal_account": _table("The municipal account's method beside the model's: territorial road vehicle-km by "
                                    "road type times national average CO2 factors, with the model's own (COPERT) CO2 "
                                    "of the same rows (docs/emissions.md, section on the municipal account's method).",
                                    _municipal_account_schema()),
        "scenarios": _table("The experiment's scenario labels: what each describes, its sweep values and seeds.",
                            _scenarios_schema(), derived=True),
        "run_keys": _table("One row per run: the scenario label and seed that key every run table, and the run's "
                           "id in the run cache (runs.csv has the sweep values too).", _run_keys_schema(), derived=True),
        "aggregates": _table("Mean, 5th and 95th percentile across seeds of every summary figure, per scenario and year.",
                             _aggregates_schema(summary), derived=True),
        "effects": _table("Each scenario's effect against its baseline per year and summary figure: the mean paired "
                          "difference over seeds with a 95 % t-interval, the unpaired interval for comparison, and "
                          "whether the effect is distinguishable from zero (docs/uncertainty.md).",
                          _effects_schema(), derived=True),
    }


def _table(description: str, schema: dict[str, Any], *, derived: bool = False) -> dict[str, Any]:
    """A table's entry: its description, its Table Schema and whether the runner derives it from the combined runs."""
    return {"description": description, **schema, "vmobDerived": derived}


def _inventory_schema() -> dict[str, Any]:
    t = "t/year"
    keys = ["accounting", "source", "powertrain", "carrier", "road_category", "area", "traffic", "road_user"]
    return {
        "fields": [
            *_KEY_FIELDS,
            _field("accounting", "string", "territorial: emitted inside the boundary by anyone; "
                   "resident: emitted anywhere by residents. Never add the two.", enum=ACCOUNTINGS, required=True),
            _field("gpc_code", "string", "GPC reference number: sub-sector and scope (II.1.1 on-road fuel in "
                   "the boundary, II.1.2 on-road grid electricity, II.1.3 outside the boundary; II.2.x railways).",
                   enum=GPC_CODES, required=True),
            _field("gpc_subsector", "string", "GPC transport sub-sector: II.1 on-road, II.2 railways.",
                   enum=("II.1", "II.2"), required=True),
            _field("gpc_scope", "integer", "GPC scope: 1 fuel burnt in the boundary, 2 grid electricity used "
                   "in the boundary, 3 outside the boundary.", minimum=1, maximum=3, required=True),
            _field("ipcc_code", "string", "IPCC source category of the activity: 1.A.3.b.i passenger cars, "
                   "1.A.3.b.iii heavy-duty vehicles incl. buses, 1.A.3.c railways (scope-2 lines are "
                   "emitted at power plants).", enum=IPCC_CODES, required=True),
            _field("source", "string", "Vehicle class or public-transport mode (as co2.source).",
                   enum=CO2_SOURCES, required=True),
            _field("powertrain", "string", "Powertrain (electric for rail and bus).",
                   enum=(*POWERTRAINS, TRANSIT_POWERTRAIN), required=True),
            _field("carrier", "string", "Energy carrier of the line (a plug-in hybrid has a petrol and an "
                   "electricity line).", enum=INVENTORY_CARRIERS, required=True),
            _field("road_category", "string", "Emission road category; none for public transport.",
                   enum=(*ROAD_CATEGORIES, NO_ROAD_CATEGORY), required=True),
            *_GROUP_FIELDS_AFTER,
            _field("energy_mj", "number", "Energy used: fuel at net calorific value, electricity drawn from "
                   "the grid; empty for public transport (no energy factor).", "MJ/year", minimum=0),
            _field("energy_mwh", "number", "energy_mj in MWh.", "MWh/year", minimum=0),
            _field("co2_fossil_t", "number", "Fossil CO2, counted (fuel: without the biofuel share; "
                   "electricity: grid intensity); equals co2.co2_t for road; empty for public transport.",
                   t, minimum=0),
            _field("co2_biogenic_t", "number", "Biogenic CO2 of the biofuel blended into the fuel; reported, "
                   "not counted in any total; empty for electricity.", t, minimum=0),
            _field("co2_combustion_t", "number", "CO2 of burning the fuel in the vehicle, fossil + biogenic; "
                   "empty for electricity.", t, minimum=0),
            _field("ch4_t", "number", "CH4 from burning the fuel (IPCC 2006 Tier 1); empty for electricity.",
                   t, minimum=0),
            _field("n2o_t", "number", "N2O from burning the fuel (IPCC 2006 Tier 1); empty for electricity.",
                   t, minimum=0),
            _field("co2e_t", "number", "CO2e (GWP100): fossil CO2 + CH4 and N2O weighted by their GWP100; "
                   "electricity the grid intensity's value; public transport its g CO2e/pkm.", "t CO2e/year",
                   minimum=0),
        ],
        "primaryKey": list(RUN_KEYS) + keys,
    }


def _factors_schema() -> dict[str, Any]:
    fields = list(_KEY_FIELDS)
    for fuel in ("petrol", "diesel"):
        fields += [
            _field(f"{fuel}_energy_mj_per_l", "number", f"Energy per litre of {fuel} (net calorific value x "
                   "density).", "MJ/l", minimum=0),
            _field(f"{fuel}_co2_combustion_kg_per_l", "number", f"CO2 of burning a litre of {fuel}, fossil and "
                   "biogenic.", "kg/l", minimum=0),
            _field(f"{fuel}_biofuel_energy_share", "number", f"Biofuel share of the energy in pump {fuel}.",
                   "1", minimum=0, maximum=1),
            _field(f"{fuel}_co2_fossil_kg_per_l", "number", f"Counted (fossil) CO2 per litre of pump {fuel}.",
                   "kg/l", minimum=0),
            _field(f"{fuel}_ch4_kg_per_tj", "number", f"CH4 per TJ of {fuel} (IPCC 2006 Tier 1).", "kg/TJ",
                   minimum=0),
            _field(f"{fuel}_n2o_kg_per_tj", "number", f"N2O per TJ of {fuel} (IPCC 2006 Tier 1).", "kg/TJ",
                   minimum=0),
        ]
    fields += [
        _field("electricity_co2_g_per_kwh", "number", "Danish grid CO2 intensity of the year (used as CO2e "
               "too).", "g/kWh", minimum=0),
        _field("electricity_mj_per_kwh", "number", "Energy per kWh.", "MJ/kWh", minimum=0),
    ]
    fields += [_field(f"{m}_co2e_g_per_pkm", "number", f"CO2e per passenger-km of {m} in the year.",
                      "g CO2e/pkm", minimum=0) for m in TRANSIT_MODES]
    fields += [
        _field("gwp100_ch4", "number", "GWP100 of CH4 (IPCC AR5).", "t CO2e/t", minimum=0),
        _field("gwp100_n2o", "number", "GWP100 of N2O (IPCC AR5).", "t CO2e/t", minimum=0),
    ]
    return {"fields": fields, "primaryKey": list(RUN_KEYS)}


def _aggregates_schema(summary: dict[str, Any]) -> dict[str, Any]:
    figures = tuple(f["name"] for f in summary["fields"] if f["name"] not in RUN_KEYS)
    unit = "the figure's unit in summary"
    return {
        "fields": [f for f in _KEY_FIELDS if f["name"] != "seed"]
        + [
            _field("figure", "string", "Summary column the row describes.", enum=figures, required=True),
            _field("seeds", "integer", "Seeds with a value.", minimum=0),
            _field("mean", "number", f"Mean across seeds ({unit})."),
            _field("p5", "number", f"5th percentile across seeds ({unit})."),
            _field("p95", "number", f"95th percentile across seeds ({unit})."),
        ],
        "primaryKey": ["experiment", "scenario", "year", "figure"],
    }


def _effects_schema() -> dict[str, Any]:
    return {
        "fields": [
            *_KEY_FIELDS[:2],
            _field("baseline", "string", "Run label of the baseline the scenario is compared with.", required=True),
            _KEY_FIELDS[3],
            _field("figure", "string", "Summary column compared (its unit is the summary's).", required=True),
            _field("seeds", "integer", "Seeds run by both the scenario and its baseline.", minimum=2),
            _field("baseline_mean", "number", "Mean of the figure over the seeds in the baseline."),
            _field("scenario_mean", "number", "Mean of the figure over the seeds in the scenario."),
            _field("effect_mean", "number", "Mean paired difference, scenario minus baseline with the same seed."),
            _field("effect_se", "number", "Standard error of the paired mean difference.", minimum=0),
            _field("effect_ci_low", "number", "Lower end of the 95 % t-interval of the paired effect."),
            _field("effect_ci_high", "number", "Upper end of the 95 % t-interval of the paired effect."),
            _field("unpaired_se", "number", "Standard error of the difference of means as if the runs were independent.", minimum=0),
            _field("unpaired_ci_low", "number", "Lower end of the unpaired 95 % interval (Welch)."),
            _field("unpaired_ci_high", "number", "Upper end of the unpaired 95 % interval (Welch)."),
            _field("variance_reduction", "number",
                   "Unpaired over paired variance of the effect; empty when the paired variance is 0.", minimum=0),
            _field("distinguishable_from_zero", "string", "yes when the paired interval excludes zero.", enum=("yes", "no"), required=True),
        ],
        "primaryKey": ["experiment", "scenario", "year", "figure"],
    }


def _municipal_account_schema() -> dict[str, Any]:
    return {
        "fields": [
            *_KEY_FIELDS,
            _field("vehicle", "string", "Vehicle class.", enum=VEHICLES, required=True),
            _field("road_category", "string", "Emission road category of the links (as vehicle_km).", enum=ROAD_CATEGORIES,
                   required=True),
            _field("road_type", "string", "Road type of the national average factor (municipal_account.toml).",
                   enum=ACCOUNT_ROAD_TYPES, required=True),
            _field("vkm_per_year", "number", "Vehicle-km inside the boundary, all traffic types.", "vkm/year", minimum=0),
            _field("speed_kph", "number", "National average speed of the road type, where the car curve is read.", "km/h",
                   minimum=0),
            _field("co2_g_per_vkm", "number", "National average counted CO2 per vehicle-km: the national fleet's "
                   "powertrain shares times each powertrain's CO2 at speed_kph.", "g/vkm", minimum=0),
            _field("co2_t", "number", "The municipal account's CO2: vkm_per_year x co2_g_per_vkm.", "t/year", minimum=0),
            _field("co2_model_t", "number", "The model's territorial CO2 of the same rows (inventory.co2_fossil_t: COPERT "
                   "at the driven speeds, local fleet).", "t/year", minimum=0),
        ],
        "primaryKey": [*list(RUN_KEYS), "vehicle", "road_category"],
    }


def _scenarios_schema() -> dict[str, Any]:
    return {
        "fields": [
            *_KEY_FIELDS[:2],
            _field("definition", "string", "The experiment file's scenario the label was made from (scenarios.<name>).",
                   required=True),
            _field("description", "string", "The scenario's description in the experiment file."),
            _field("sweep", "string", "Swept parameter values of the label (path=value; ...), empty without a sweep."),
            _field("seeds", "integer", "Seeds run for the label.", minimum=1),
        ],
        "primaryKey": ["experiment", "scenario"],
    }


def _run_keys_schema() -> dict[str, Any]:
    return {
        "fields": [
            *_KEY_FIELDS[:3],
            _field("run_id", "string", "Id of the run in the run cache (results/.runs/<run_id>/).", required=True),
        ],
        "primaryKey": ["experiment", "scenario", "seed"],
    }


#: Frictionless Table Schema descriptors and descriptions, by table name, in writing order.
SCHEMAS: dict[str, dict[str, Any]] = _schemas()
#: Tables the runner builds from the combined run tables, written after :data:`TABLES`
#: (``aggregates`` by model.experiments, ``effects`` by model.effects).
DERIVED_TABLES: tuple[str, ...] = tuple(n for n, s in SCHEMAS.items() if s["vmobDerived"])
#: Tables of each run, in writing order.
TABLES: tuple[str, ...] = tuple(n for n, s in SCHEMAS.items() if not s["vmobDerived"])


def columns(table: str) -> list[str]:
    """Column names of a table, in contract order."""
    if table not in SCHEMAS:
        raise VmobError(f"Unknown output table '{table}'; expected one of {', '.join(TABLES)}.")
    return [f["name"] for f in SCHEMAS[table]["fields"]]


# --------------------------------------------------------------------------------------------
# Building tables
# --------------------------------------------------------------------------------------------


def summary_table(
    mode_split: pd.DataFrame, co2: pd.DataFrame, vehicle_km: pd.DataFrame, traffic: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The summary table from the other three, one row per (experiment, scenario, seed, year).

    Parameters
    ----------
    mode_split, co2, vehicle_km
        Tables in contract layout (with the run keys).
    traffic
        Per run and year ``co2_outside_t``, ``vkm_evaporated_per_year`` and ``co2_evaporated_t``
        (:meth:`model.simulation.MobilityModel.results`); zero where not given.

    Returns
    -------
    pandas.DataFrame
        Columns of ``SCHEMAS["summary"]``; the change vs 2019 is relative to the same
        experiment/scenario/seed's ``BASE_YEAR`` row and empty where that row is missing.
    """
    keys = list(RUN_KEYS)
    residents = mode_split[(mode_split["road_user"] == "resident") & (mode_split.get("purpose", "commute") == "commute")]
    shares = (
        residents.pivot_table(index=keys, columns="mode", values="share", aggfunc="sum")
        .reindex(columns=list(MODES), fill_value=0.0)
        .fillna(0.0)
    )
    shares.columns = [f"share_{m}" for m in shares.columns]
    terr = co2[co2["accounting"] == "territorial"]
    parts = {
        "co2_territorial_t": terr.groupby(keys)["co2_t"].sum(),
        "co2_resident_t": co2[co2["accounting"] == "resident"].groupby(keys)["co2_t"].sum(),
        "co2_through_t": terr[terr["traffic"] == "through"].groupby(keys)["co2_t"].sum(),
        "vkm_total_per_year": vehicle_km.groupby(keys)["vkm_per_year"].sum(),
        "vkm_inside_per_year": vehicle_km[vehicle_km["area"] == "inside"].groupby(keys)["vkm_per_year"].sum(),
        "vkm_outside_per_year": vehicle_km[vehicle_km["area"] == "outside"].groupby(keys)["vkm_per_year"].sum(),
    }
    for col in ("co2_outside_t", "vkm_evaporated_per_year", "co2_evaporated_t"):
        parts[col] = traffic.groupby(keys)[col].sum() if traffic is not None else 0.0 * parts["vkm_total_per_year"]
    out = shares.join(pd.DataFrame(parts), how="outer").reset_index()
    for col in parts:
        out[col] = out[col].fillna(0.0)
    base = out[out["year"] == BASE_YEAR].set_index(["experiment", "scenario", "seed"])["co2_territorial_t"]
    ref = out.set_index(["experiment", "scenario", "seed"]).index.map(base.to_dict())
    ref = pd.Series(ref, index=out.index, dtype=float).where(lambda s: s > 0)
    out["co2_territorial_change_vs_2019_pct"] = 100.0 * (out["co2_territorial_t"] / ref - 1.0)
    for m in MODES:
        out[f"share_{m}"] = out[f"share_{m}"].fillna(0.0)
    return out[columns("summary")]


# --------------------------------------------------------------------------------------------
# Writing and reading
# --------------------------------------------------------------------------------------------


def _conform(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Order columns as in the schema and give them CSV-friendly dtypes; name what is wrong."""
    want = columns(name)
    missing = [c for c in want if c not in df.columns]
    if missing:
        raise VmobError(f"Output table '{name}' lacks the column '{missing[0]}'.")
    extra = [c for c in df.columns if c not in want]
    if extra:
        raise VmobError(f"Output table '{name}' has the column '{extra[0]}', which is not in its schema.")
    out = df[want].copy()
    for field in SCHEMAS[name]["fields"]:
        col = field["name"]
        if field["type"] == "integer":
            values = pd.to_numeric(out[col], errors="coerce")
            bad = values.isna() | (values != np.round(values))
            if bad.any():
                raise VmobError(
                    f"Output table '{name}', column '{col}': value '{out[col][bad].iloc[0]}' is not an integer."
                )
            out[col] = values.astype("int64")
        elif field["type"] == "number":
            values = pd.to_numeric(out[col], errors="coerce")
            if (values.isna() & out[col].notna()).any():
                first = out[col][values.isna() & out[col].notna()].iloc[0]
                raise VmobError(f"Output table '{name}', column '{col}': value '{first}' is not a number.")
            out[col] = values.astype("float64")
        else:
            if out[col].isna().any():
                raise VmobError(f"Output table '{name}', column '{col}' has missing values.")
            out[col] = out[col].astype(str)
    return out.reset_index(drop=True)


def _package_name(experiment_name: str) -> str:
    slug = re.sub(r"[^a-z0-9._-]+", "-", experiment_name.lower()).strip("-._")
    return slug or "experiment"


def _columns_sheet() -> pd.DataFrame:
    rows = []
    for table in TABLES + DERIVED_TABLES:
        for f in SCHEMAS[table]["fields"]:
            c = f.get("constraints", {})
            rows.append(
                {
                    "table": table,
                    "column": f["name"],
                    "type": f["type"],
                    "unit": f.get("unit", ""),
                    "allowed_values": ", ".join(c.get("enum", [])),
                    "key": f["name"] in SCHEMAS[table]["primaryKey"],
                    "description": f["description"]
                    + (f" (summary.xlsx: summed over {', '.join(WORKBOOK_SUMMED_OVER[table])}; the CSV has every row)"
                       if table in WORKBOOK_SUMMED_OVER and f["type"] == "number" else "")
                    + (" (summary.xlsx: the sheets show means across seeds, with the number of seeds in 'seeds')"
                       if f["name"] == "seed" else ""),
                }
            )
    return pd.DataFrame(rows)


#: Columns the planner workbook sums over in the large link-level tables; the CSV and Parquet
#: files keep every row (a sweep's vehicle_km runs to 10^5 rows, too many for a spreadsheet).
WORKBOOK_SUMMED_OVER = {"vehicle_km": ("road_category", "speed_limit_kph"), "energy": ("road_category",),
                        "inventory": ("road_category",)}
#: The scenario label other scenarios are compared with (the change-vs-baseline sheet, the report).
REFERENCE_SCENARIO = "baseline"
#: Summary columns compared with the reference scenario.
CHANGE_MEASURES: tuple[str, ...] = (
    "co2_territorial_t", "co2_resident_t", "co2_through_t", *(f"share_{m}" for m in MODES),
    "vkm_total_per_year", "vkm_inside_per_year", "vkm_outside_per_year", "co2_outside_t", "vkm_evaporated_per_year",
    "co2_evaporated_t",
)
#: Excel number formats by schema unit: the unit is shown with the number, the cell stays a number.
UNIT_FORMATS = {
    "1": "0.0%",
    "%": '+0.0" %";-0.0" %";0.0" %"',  # already a signed change (co2_territorial_change_vs_2019_pct)
    "t/year": '#,##0.0" t"',
    "g/vkm": '#,##0.0" g/vkm"',
    "t CO2e/year": '#,##0.0" t CO2e"',
    "MWh/year": '#,##0.0" MWh"',
    "vkm/year": '#,##0" vkm"',
    "pkm/year": '#,##0" pkm"',
    "MJ/year": '#,##0" MJ"',
    "persons": "#,##0",
    "trips/day": "#,##0",
    "l/year or kWh/year": "#,##0",
    "km/h": '0" km/h"',
    "year": "0",
}
_WIDTH_MIN, _WIDTH_NUMBER, _WIDTH_MAX = 8, 14, 60


def _unit(table: str, column: str) -> str:
    return next((f.get("unit", "") for f in SCHEMAS[table]["fields"] if f["name"] == column), "")


def change_vs_baseline(summary: pd.DataFrame, reference: str = REFERENCE_SCENARIO) -> pd.DataFrame:
    """Each scenario against the reference, per year and headline measure (means across seeds).

    Parameters
    ----------
    summary
        The ``summary`` table (``scenario`` holds the scenario label).
    reference
        Label of the scenario compared with.

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario, year, seeds, measure, unit, baseline, value, change, change_pct``,
        one row per scenario other than the reference, year the reference has, and measure of
        :data:`CHANGE_MEASURES` in the table; ``change`` is in the measure's unit (shares: fractions, so
        0.01 is one percentage point), ``change_pct`` relative to the reference (empty where
        the reference is 0). Empty without the reference or another scenario.
    """
    names = ["scenario", "year", "seeds", "measure", "unit", "baseline", "value", "change", "change_pct"]
    keys = ["scenario", "year"]
    if reference not in set(summary["scenario"]):
        return pd.DataFrame(columns=names)
    measures = [m for m in CHANGE_MEASURES if m in summary.columns]
    means = summary.groupby(keys, sort=False)[measures].mean()
    means["seeds"] = summary.groupby(keys, sort=False)["seed"].nunique()
    long = means.reset_index().melt(id_vars=[*keys, "seeds"], value_vars=measures, var_name="measure")
    base = long[long["scenario"] == reference][["year", "measure", "value"]].rename(columns={"value": "baseline"})
    out = long[long["scenario"] != reference].merge(base, on=["year", "measure"], how="inner")
    out["change"] = out["value"] - out["baseline"]
    out["change_pct"] = 100.0 * out["change"] / out["baseline"].where(out["baseline"] != 0)
    out["unit"] = out["measure"].map(lambda m: _unit("summary", m))
    order = {m: i for i, m in enumerate(CHANGE_MEASURES)}
    labels = {label: i for i, label in enumerate(dict.fromkeys(summary["scenario"]))}
    out = out.assign(scenario_rank=out["scenario"].map(labels), measure_rank=out["measure"].map(order))
    return out.sort_values(["scenario_rank", "year", "measure_rank"])[names].reset_index(drop=True)


def workbook_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The sheets of ``summary.xlsx``: every table as means across seeds, the link-level ones summed over road details.

    A table with a ``seed`` column gets ``seeds`` (the number of seeds of the scenario) in its place,
    and each value is the sum over the seeds divided by that number, so a row a seed lacks counts
    as zero (vehicle-km of a rare combination) and the sheet's totals are the seed-mean totals.
    """
    sheets = {}
    for name, df in tables.items():
        dropped = WORKBOOK_SUMMED_OVER.get(name, ())
        values = [c for c in df.columns if c not in dropped and pd.api.types.is_float_dtype(df[c])]
        keys = [c for c in df.columns if c not in dropped and c not in values and c != "seed"]
        if "seed" in df.columns:
            seeds = df.groupby(["experiment", "scenario"], sort=False)["seed"].nunique().rename("seeds")
            df = df.groupby(keys, sort=False, as_index=False, dropna=False)[values].sum(min_count=1)
            df = df.join(seeds, on=["experiment", "scenario"])
            df[values] = df[values].div(df["seeds"], axis=0)
            df = df[[*keys[:2], "seeds", *keys[2:], *values]]
        elif dropped:
            df = df.groupby(keys, sort=False, as_index=False, dropna=False)[values].sum(min_count=1)
        sheets[name] = df.head(_XLSX_MAX_ROWS)
    return sheets


def _width(header: str, values: pd.Series) -> float:
    """A column width in characters: the header or the longest text, numbers at a fixed width."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return max(len(header) + 2, _WIDTH_NUMBER)
    longest = int(values.head(10_000).astype(str).str.len().max()) if len(values) else 0
    return min(max(len(header) + 2, longest + 2, _WIDTH_MIN), _WIDTH_MAX)


def _format_sheet(book: Any, sheet: Any, df: pd.DataFrame, units: Mapping[str, str]) -> None:
    """Frozen header row, a filter, column widths and the unit's number format on every column."""
    formats = {unit: book.add_format({"num_format": fmt}) for unit, fmt in UNIT_FORMATS.items()}
    for i, column in enumerate(df.columns):
        sheet.set_column(i, i, _width(column, df[column]), formats.get(units.get(column, "")))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(df), 1), len(df.columns) - 1)


def _write_frame(book: Any, name: str, df: pd.DataFrame) -> Any:
    """A sheet holding ``df`` (header row, then one row per record; empty cells for missing values).

    Written with xlsxwriter's typed calls column by column, without pandas' per-cell formatter
    objects (several times faster for the long tables).
    """
    sheet = book.add_worksheet(name)
    for j, column in enumerate(df.columns):
        sheet.write_string(0, j, str(column))
        values = df[column]
        if pd.api.types.is_bool_dtype(values):
            for i, v in enumerate(values.tolist(), start=1):
                sheet.write_boolean(i, j, bool(v))
        elif pd.api.types.is_numeric_dtype(values):
            numbers = values.to_numpy(dtype=float)
            write = sheet.write_number
            for i in np.flatnonzero(np.isfinite(numbers)).tolist():
                write(i + 1, j, numbers[i])
        else:
            write_text = sheet.write_string
            for i, v in enumerate(values.tolist(), start=1):
                if v is not None and v == v:  # neither None nor NaN
                    write_text(i, j, str(v))
    return sheet


def _write_change_sheet(book: Any, change: pd.DataFrame) -> None:
    """The change-vs-baseline sheet: each row's numbers in its measure's format."""
    sheet = _write_frame(book, "change_vs_baseline", change)
    _format_sheet(book, sheet, change, {"year": "year", "change_pct": "%"})
    plain = {unit: book.add_format({"num_format": fmt}) for unit, fmt in UNIT_FORMATS.items()}
    signed = {unit: book.add_format({"num_format": f"+{fmt};-{fmt};{fmt}"})
              for unit, fmt in UNIT_FORMATS.items() if ";" not in fmt}
    cells = [(change.columns.get_loc(c), formats) for c, formats in (("baseline", plain), ("value", plain), ("change", signed))]
    for row, (unit, *values) in enumerate(change[["unit", "baseline", "value", "change"]].itertuples(index=False), start=1):
        for (col, formats), value in zip(cells, values, strict=True):
            if pd.notna(value):
                sheet.write_number(row, col, float(value), formats.get(unit))


def _write_workbook(tables: Mapping[str, pd.DataFrame], path: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": False})
    try:
        for name, df in workbook_tables(tables).items():
            sheet = _write_frame(book, name, df)
            _format_sheet(book, sheet, df, {c: _unit(name, c) for c in df.columns})
        if "summary" in tables:
            change = change_vs_baseline(tables["summary"])
            if not change.empty:
                _write_change_sheet(book, change.head(_XLSX_MAX_ROWS))
        columns_sheet = _columns_sheet()
        _format_sheet(book, _write_frame(book, "columns", columns_sheet), columns_sheet, {})
    finally:
        book.close()


#: Licence of the written tables: the road network they are computed on is OpenStreetMap data (ODbL).
PACKAGE_LICENSES: tuple[dict[str, str], ...] = (
    {"name": "ODbL-1.0", "path": "https://opendatacommons.org/licenses/odbl/1-0/",
     "title": "Open Data Commons Open Database License 1.0 (the road network is OpenStreetMap data)"},
)
#: Where the inputs of the tables come from (each parameter's own source is in experiments/parameters/*.toml).
PACKAGE_SOURCES: tuple[dict[str, str], ...] = (
    {"title": "OpenStreetMap contributors: road, cycle and rail network, municipal boundary",
     "path": "https://www.openstreetmap.org/copyright"},
    {"title": "EMEP/EEA air pollutant emission inventory guidebook 2019, 1.A.3.b road transport (COPERT energy curves)",
     "path": "https://www.eea.europa.eu/publications/emep-eea-guidebook-2019"},
    {"title": "Statistics Denmark, Energinet, Energistyrelsen, DTU Transport and the other sources named per number in "
              "experiments/parameters/*.toml", "path": "experiments/parameters"},
    {"title": "vallensbaek-mobility model code (MIT licence)", "path": "model"},
)


def foreign_keys(name: str, present: Collection[str] = ()) -> list[dict[str, Any]]:
    """Foreign keys of a table to the ``run_keys`` and ``scenarios`` tables, where those are in ``present``.

    Every table keyed by run (``experiment, scenario, seed``) points at ``run_keys``; a table keyed
    by scenario label without seed (``aggregates``, ``effects``, ``run_keys``) points at
    ``scenarios``, and ``effects.baseline`` does too.
    """
    keys = [f["name"] for f in SCHEMAS[name]["fields"]][:3]
    out = []
    if name != "run_keys" and keys == ["experiment", "scenario", "seed"] and "run_keys" in present:
        fields = ["experiment", "scenario", "seed"]
        out.append({"fields": fields, "reference": {"resource": "run_keys", "fields": fields}})
    elif name != "scenarios" and keys[:2] == ["experiment", "scenario"] and "scenarios" in present:
        out.append({"fields": ["experiment", "scenario"], "reference": {"resource": "scenarios", "fields": ["experiment", "scenario"]}})
    if name == "effects" and "scenarios" in present:
        out.append({"fields": ["experiment", "baseline"], "reference": {"resource": "scenarios", "fields": ["experiment", "scenario"]}})
    return out


def table_schema(name: str, present: Collection[str] = ()) -> dict[str, Any]:
    """The Frictionless Table Schema of a table, with foreign keys to the tables in ``present``."""
    schema = copy.deepcopy({k: v for k, v in SCHEMAS[name].items() if k in ("fields", "primaryKey")})
    keys = foreign_keys(name, present)
    return {**schema, "foreignKeys": keys} if keys else schema


def check_table(name: str, df: pd.DataFrame) -> None:
    """Check a conformed table against its schema on the DataFrame: allowed values, ranges, required cells, primary key.

    The same constraints Frictionless checks on the CSV (``write_tables`` then validates the package
    once, on its first rows), at column speed.

    Raises
    ------
    VmobError
        Naming the table, the first failing row (1 = header, as Frictionless counts), the column and the rule.
    """
    def fail(mask: pd.Series, col: str, rule: str) -> None:
        row = int(np.flatnonzero(mask.to_numpy())[0])
        raise VmobError(f"Output table '{name}' breaks its schema at row {row + 2}, column '{col}': "
                        f"value '{df[col].iloc[row]}' {rule}")

    for field in SCHEMAS[name]["fields"]:
        col, rules = field["name"], field.get("constraints", {})
        values = df[col]
        if rules.get("required") and values.isna().any():
            fail(values.isna(), col, "is missing (required)")
        if "enum" in rules:
            bad = values.notna() & ~values.isin(rules["enum"])
            if bad.any():
                fail(bad, col, f"is not one of {', '.join(map(str, rules['enum']))}")
        if "minimum" in rules and (values < rules["minimum"]).any():
            fail(values < rules["minimum"], col, f"is below the minimum {rules['minimum']}")
        if "maximum" in rules and (values > rules["maximum"]).any():
            fail(values > rules["maximum"], col, f"is above the maximum {rules['maximum']}")
        if field["type"] == "number" and np.isinf(values.to_numpy(dtype=float)).any():
            fail(pd.Series(np.isinf(values.to_numpy(dtype=float))), col, "is not a finite number")
    key = SCHEMAS[name]["primaryKey"]
    duplicated = df.duplicated(key, keep="first")
    if duplicated.any():
        fail(duplicated, key[-1], f"repeats the primary key ({', '.join(key)})")


def _check_foreign_keys(tables: Mapping[str, pd.DataFrame]) -> None:
    """Every foreign key of a table points at a row of the referenced table."""
    for name, df in tables.items():
        for fk in foreign_keys(name, tables):
            ref = tables[fk["reference"]["resource"]]
            known = pd.MultiIndex.from_frame(ref[fk["reference"]["fields"]].astype(str))
            found = pd.MultiIndex.from_frame(df[fk["fields"]].astype(str)).isin(known)
            if not found.all():
                row = int(np.flatnonzero(~found)[0])
                values = ", ".join(str(df[c].iloc[row]) for c in fk["fields"])
                raise VmobError(f"Output table '{name}' row {row + 2}: ({values}) is not in the "
                                f"'{fk['reference']['resource']}' table.")


def _validate_package(package: Any, limit_rows: int) -> None:
    """One Frictionless validation of the written package on the first rows of each file (descriptor, headers, types)."""
    report = package.validate(limit_rows=limit_rows)
    if not report.valid:
        task = next(t for t in report.tasks if not t.valid)
        errors = task.flatten(["rowNumber", "fieldName", "message"])
        if errors:
            row, field, message = errors[0]
            where = f"row {row}, column '{field}'" if field else f"row {row}"
            raise VmobError(f"Output table '{task.name}' breaks its schema at {where}: {message}")
        raise VmobError(f"Output table '{task.name}' breaks its schema: {task.errors[0].message}")


#: Rows of each file Frictionless reads when it validates the written package (the DataFrame checks cover every row).
VALIDATION_ROWS = 1000


def run_tables(runs: pd.DataFrame, experiment: str, descriptions: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """The ``scenarios`` and ``run_keys`` tables from the runner's ``runs.csv`` rows.

    Parameters
    ----------
    runs
        ``run_id, scenario, label, seed`` and one column per sweep path (empty where it does not apply).
    experiment
        The experiment's name.
    descriptions
        Scenario name in the experiment file → its description.
    """
    sweep_paths = [c for c in runs.columns if c not in ("run_id", "scenario", "label", "seed")]
    sweep = runs[sweep_paths].astype(str).apply(
        lambda row: "; ".join(f"{p}={v}" for p, v in row.items() if v not in ("", "nan")), axis=1
    ) if sweep_paths else pd.Series("", index=runs.index)
    labelled = runs.assign(experiment=experiment, sweep=sweep)
    grouped = labelled.groupby("label", sort=False)
    scenarios = pd.DataFrame({
        "experiment": experiment,
        "scenario": list(grouped.groups),
        "definition": grouped["scenario"].first().to_numpy(),
        "sweep": grouped["sweep"].first().to_numpy(),
        "seeds": grouped["seed"].nunique().to_numpy(),
    })
    scenarios["description"] = scenarios["definition"].map(descriptions).fillna("")
    run_keys = labelled.rename(columns={"scenario": "definition", "label": "scenario"})
    return {"scenarios": scenarios[columns("scenarios")],
            "run_keys": run_keys[columns("run_keys")].sort_values(["scenario", "seed"], ignore_index=True)}


def package_descriptor(name: str, title: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The Data Package descriptor: name, title, version, licences, sources and the resources."""
    from model import __version__

    return {
        "name": name,
        "title": title,
        "version": __version__,
        "description": "Output tables of the vallensbaek-mobility model: commuters' mode choice, vehicle-km, energy, "
                       "CO2 and the emissions inventory per scenario, seed and year (docs/outputs.md).",
        "licenses": [dict(lic) for lic in PACKAGE_LICENSES],
        "sources": [dict(src) for src in PACKAGE_SOURCES],
        "resources": resources,
    }


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    out_dir: Path | str,
    *,
    experiment_name: str,
    extra_metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Check and write the output tables, their data package and the planner workbook.

    Each table becomes ``<table>.csv`` and ``<table>.parquet``; ``datapackage.json`` describes the
    CSVs with their Table Schemas, foreign keys, licence, sources and version; ``summary.xlsx`` is
    the planner workbook. Every table is checked against its schema on the DataFrame (every row:
    allowed values, ranges, required cells, primary and foreign keys), everything is written to a
    temporary folder inside ``out_dir``, the package is validated once with ``frictionless`` on the
    first :data:`VALIDATION_ROWS` rows of each file, and only then are the files renamed into
    place, so a failure leaves no new file behind.

    Parameters
    ----------
    tables
        Table name → DataFrame, names from :data:`TABLES` and :data:`DERIVED_TABLES` (a subset is allowed).
    out_dir
        Destination folder (created if needed).
    experiment_name
        Recorded as the package's title; its slug is the package name.
    extra_metadata
        Stored under the ``vmob`` property of ``datapackage.json`` (e.g. provenance).

    Returns
    -------
    pathlib.Path
        Path of the written ``datapackage.json``.

    Raises
    ------
    VmobError
        Unknown table name, wrong columns, or a table that breaks its schema (naming the table and
        the first error).
    """
    from frictionless import Package

    unknown = [n for n in tables if n not in SCHEMAS]
    if unknown:
        raise VmobError(f"Unknown output table '{unknown[0]}'; expected one of {', '.join(TABLES + DERIVED_TABLES)}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ordered = {n: _conform(n, tables[n]) for n in SCHEMAS if n in tables}
    for name, df in ordered.items():
        check_table(name, df)
    _check_foreign_keys(ordered)
    tmp = Path(tempfile.mkdtemp(prefix=".writing-", dir=out_dir))
    try:
        resources = []
        for name, df in ordered.items():
            df.to_csv(tmp / f"{name}.csv", index=False)
            df.to_parquet(tmp / f"{name}.parquet", index=False)
            resources.append({"name": name, "type": "table", "path": f"{name}.csv", "scheme": "file", "format": "csv",
                              "mediatype": "text/csv", "encoding": "utf-8", "description": SCHEMAS[name]["description"],
                              "schema": table_schema(name, ordered)})
        descriptor = package_descriptor(_package_name(experiment_name), experiment_name, resources)
        _validate_package(Package.from_descriptor(copy.deepcopy(descriptor), basepath=str(tmp)), VALIDATION_ROWS)
        descriptor["vmob"] = {
            "parquet": {name: f"{name}.parquet" for name in ordered},
            "workbook": "summary.xlsx",
            **dict(extra_metadata or {}),
        }
        (tmp / "datapackage.json").write_text(
            json.dumps(descriptor, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
        )
        _write_workbook(ordered, tmp / "summary.xlsx")
        names = [f"{n}.{ext}" for n in ordered for ext in ("csv", "parquet")] + ["summary.xlsx"]
        for fname in [*names, "datapackage.json"]:  # the package last: it names the others
            os.replace(tmp / fname, out_dir / fname)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / "datapackage.json"


def inside_folder(folder: Path | str, relative: str, what: str) -> Path:
    """``folder / relative``, refused when it leads out of ``folder``.

    An absolute path, a ``..`` part or a symbolic link (of the file or of a folder on the way)
    that resolves outside ``folder`` is refused, so a damaged or hostile ``datapackage.json``
    or a linked sub-folder cannot make a reader or writer reach files elsewhere.

    Parameters
    ----------
    folder
        The results folder.
    relative
        The path inside it, as written in a descriptor (``/`` separators).
    what
        What names the path, for the message (e.g. ``"datapackage.json resource 'co2'"``).

    Raises
    ------
    VmobError
        Naming the folder, ``what`` and the path.
    """
    folder = Path(folder)
    if not relative or Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise VmobError(f"{folder}: {what} points outside the results folder ('{relative}'); refused.")
    path = folder / relative
    if not path.resolve().is_relative_to(folder.resolve()):
        raise VmobError(f"{folder}: {what} leads out of the results folder through a symbolic link ('{relative}'); refused.")
    return path


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object (``datapackage.json``, ``manifest.json``).

    Raises
    ------
    VmobError
        The file is not readable, not JSON or not an object; the message names the file.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise VmobError(f"{path}: not readable JSON ({_first_line(err)})") from None
    if not isinstance(data, dict):
        raise VmobError(f"{path}: expected a JSON object, found {type(data).__name__.replace('dict', 'object')}")
    return data


def read_parquet(path: Path, reader: Callable[..., pd.DataFrame] = pd.read_parquet, **kwargs: Any) -> pd.DataFrame:
    """Read a Parquet file with ``reader`` (``geopandas.read_parquet`` for geometry), one line naming a damaged file."""
    import pyarrow

    try:
        return reader(path, **kwargs)
    except (OSError, ValueError, pyarrow.ArrowException) as err:
        raise VmobError(f"{path}: not a readable Parquet file ({_first_line(err)})") from None


def read_csv(path: Path) -> pd.DataFrame:
    """``pandas.read_csv`` with a one-line error naming the file when it is not readable CSV."""
    try:
        return pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise VmobError(f"{path}: not a readable CSV file ({_first_line(err)})") from None


def _resource_names(descriptor: dict[str, Any], descriptor_path: Path) -> list[str]:
    resources = descriptor.get("resources", [])
    if not isinstance(resources, list):
        raise VmobError(f"{descriptor_path}: 'resources' must be a list of tables.")
    names = []
    for k, resource in enumerate(resources):
        name = resource.get("name") if isinstance(resource, dict) else None
        if not isinstance(name, str) or not name:
            raise VmobError(f"{descriptor_path}: resources[{k}] has no name.")
        names.append(name)
    return names


def read_tables(out_dir: Path | str) -> dict[str, pd.DataFrame]:
    """Read the tables listed in ``<out_dir>/datapackage.json`` from their Parquet files.

    Every path stays inside ``out_dir`` (see :func:`inside_folder`): the resource's CSV
    ``path``, the Parquet file named in the package's ``vmob.parquet`` (else ``<name>.parquet``).

    Raises
    ------
    VmobError
        One line naming the file: the package is missing, not JSON or not an object, a resource
        has no name, a path leads outside the folder, a Parquet file is missing or unreadable.
    """
    out_dir = Path(out_dir)
    descriptor_path = inside_folder(out_dir, "datapackage.json", "datapackage.json")
    if not descriptor_path.is_file():
        raise VmobError(f"No datapackage.json in {out_dir}; write the tables first.")
    descriptor = read_json_object(descriptor_path)
    vmob = descriptor.get("vmob")
    parquet = vmob.get("parquet") if isinstance(vmob, dict) else None
    parquet = parquet if isinstance(parquet, dict) else {}
    resources = descriptor["resources"] if isinstance(descriptor.get("resources"), list) else []
    tables: dict[str, pd.DataFrame] = {}
    for k, name in enumerate(_resource_names(descriptor, descriptor_path)):
        what = f"datapackage.json resource '{name}'"
        csv_paths = resources[k].get("path", [])
        for csv_path in csv_paths if isinstance(csv_paths, list) else [csv_paths]:
            inside_folder(out_dir, str(csv_path), what)
        path = inside_folder(out_dir, str(parquet.get(name, f"{name}.parquet")), what)
        if not path.is_file():
            raise VmobError(f"Table file {path} named in {descriptor_path} is missing.")
        tables[name] = read_parquet(path)
    return tables


# --------------------------------------------------------------------------------------------
# Reconciliation
# --------------------------------------------------------------------------------------------


def _close(a: pd.Series, b: pd.Series, rtol: float) -> pd.Series:
    a, b = a.align(b, fill_value=0.0)
    scale = np.maximum(np.abs(a), np.abs(b))
    return np.abs(a - b) <= rtol * scale + 1e-9


def _require_close(a: pd.Series, b: pd.Series, rtol: float, what: str) -> None:
    ok = _close(a, b, rtol)
    if not ok.all():
        a, b = a.align(b, fill_value=0.0)
        key = ok[~ok].index[0]
        raise VmobError(f"Sums do not reconcile: {what} for {key}: {a[key]!r} vs {b[key]!r}.")


def check_reconciliation(tables: Mapping[str, pd.DataFrame], *, rtol: float = 1e-6) -> None:
    """Check that the tables add up, raising on the first mismatch.

    Checks, per (experiment, scenario, seed, year), whichever tables are present:

    - ``mode_split``: shares sum to 1 per road user (resident, non_resident);
    - ``vehicle_km``: no missing vkm; vkm summed by each category column (vehicle, powertrain,
      road_category, speed limit, area, traffic, road user) equals the total, and the total and
      the inside total equal the summary's ``vkm_total_per_year`` / ``vkm_inside_per_year``;
    - ``co2``: CO2 by source summed per accounting equals the summary's ``co2_territorial_t`` and
      ``co2_resident_t``; through traffic equals ``co2_through_t``;
    - ``inventory``: road fossil CO2 plus public-transport CO2e, summed by GPC code per
      accounting, equals the summary's ``co2_territorial_t`` and ``co2_resident_t``;
    - ``summary``: mode shares equal the residents' shares in ``mode_split``;
    - ``fleet``: stock shares sum to 1 per vehicle class and segment.

    Raises
    ------
    VmobError
        Naming the check and the run/year that fails (relative tolerance ``rtol``).
    """
    keys = list(RUN_KEYS)
    summary = tables.get("summary")
    s = summary.set_index(keys) if summary is not None else None
    if "mode_split" in tables:
        ms = tables["mode_split"]
        by = [*keys, "road_user", "purpose"] if "purpose" in ms else [*keys, "road_user"]
        totals = ms.groupby(by)["share"].sum()
        totals = totals[ms.groupby(by)["trips_per_day" if "trips_per_day" in ms else "share"].sum() > 0]
        _require_close(totals, pd.Series(1.0, index=totals.index), rtol, "mode shares summed")
        if s is not None:
            for m in MODES:
                resident = ms[(ms["mode"] == m) & (ms["road_user"] == "resident") & (ms.get("purpose", "commute") == "commute")]
                got = resident.groupby(keys)["share"].sum().reindex(s.index, fill_value=0.0)
                _require_close(got, s[f"share_{m}"], rtol, f"share of {m} vs summary")
    if "vehicle_km" in tables:
        vk = tables["vehicle_km"]
        if vk["vkm_per_year"].isna().any():
            raise VmobError("Sums do not reconcile: vehicle_km has missing vkm_per_year values.")
        total = vk.groupby(keys)["vkm_per_year"].sum()
        for cat in ("vehicle", "powertrain", "road_category", "speed_limit_kph", "area", "traffic", "road_user"):
            by_cat = vk.groupby([*keys, cat])["vkm_per_year"].sum().groupby(level=keys).sum()
            _require_close(by_cat, total, rtol, f"vkm by {cat} vs total")
        if s is not None:
            _require_close(total, s["vkm_total_per_year"], rtol, "vkm total vs summary")
            inside = vk[vk["area"] == "inside"].groupby(keys)["vkm_per_year"].sum()
            _require_close(inside, s["vkm_inside_per_year"], rtol, "vkm inside vs summary")
    if "fleet" in tables:
        fleet = tables["fleet"]
        totals = fleet.groupby([*keys, "vehicle", "segment"])["stock_share"].sum()
        _require_close(totals, pd.Series(1.0, index=totals.index), rtol, "fleet stock shares summed")
    if "co2" in tables and s is not None:
        co2 = tables["co2"]
        for accounting, col in (("territorial", "co2_territorial_t"), ("resident", "co2_resident_t")):
            part = co2[co2["accounting"] == accounting]
            by_source = part.groupby([*keys, "source"])["co2_t"].sum().groupby(level=keys).sum()
            _require_close(by_source, s[col], rtol, f"{accounting} CO2 by source vs summary")
        through = co2[(co2["accounting"] == "territorial") & (co2["traffic"] == "through")]
        _require_close(through.groupby(keys)["co2_t"].sum(), s["co2_through_t"], rtol,
                       "through-traffic CO2 vs summary")
    if "inventory" in tables and s is not None:
        inv = tables["inventory"]
        # The summary's totals add road CO2 and public-transport CO2e (their only figure).
        counted = inv["co2_fossil_t"].where(inv["powertrain"] != TRANSIT_POWERTRAIN, inv["co2e_t"])
        for accounting, col in (("territorial", "co2_territorial_t"), ("resident", "co2_resident_t")):
            part = inv["accounting"] == accounting
            by_code = counted[part].groupby([inv.loc[part, k] for k in [*keys, "gpc_code"]]).sum()
            _require_close(by_code.groupby(level=keys).sum(), s[col], rtol,
                           f"{accounting} inventory (road fossil CO2 + public-transport CO2e) vs summary")
