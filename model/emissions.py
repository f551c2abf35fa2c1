"""Energy and CO2 from vehicle-km and passenger-km: a pure layer, no Mesa inside.

Cars use the COPERT hot energy-consumption speed curves of the EMEP/EEA guidebook 2019
(chapter 1.A.3.b.i-iv, Appendix 4, 2020 Sept. workbook, sheet ``HOT_EMISSIONS_PARAMETERS``;
facts: ``parameters.md`` §1), evaluated at each link's driven speed. Battery-electric cars use
the PHEV electric-mode row as a proxy and the Danish electricity CO2 intensity of the year
(``behaviour-and-emissions.md`` §4). Trucks use one speed-independent diesel factor (assumption).
Fuel CO2 is fossil CO2 only: the biofuel share blended into Danish pump petrol and diesel (by year)
counts as zero, as in the national and municipal accounts.
Vans and buses use one speed-independent factor per powertrain (assumptions with cross-checks,
``emissions.toml``). Rail (and a future bus commuting mode) use g CO2 per passenger-km (``behaviour-and-emissions.md`` §4).

All numbers live in ``experiments/parameters/emissions.toml``; the method is in
``docs/emissions.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from model.errors import VmobError
from model.files import StrictModel, load_toml_model
from model.settings import PARAMETERS_DIR
from model.vocabulary import AREAS, POWERTRAINS, ROAD_CATEGORIES, ROAD_USERS, TRAFFIC_TYPES, VEHICLE_POWERTRAINS, VEHICLES

if TYPE_CHECKING:
    from model.edges import EdgeArrays

#: Energy carriers of the energy table.
CARRIERS: tuple[str, ...] = ("petrol_l", "diesel_l", "electricity_kwh")
#: Public transport modes with a g/pkm factor; their powertrain label in the co2 table.
TRANSIT_MODES: tuple[str, ...] = ("s_train", "light_rail", "bus")
TRANSIT_POWERTRAIN = "electric"
#: CO2 sources and accountings of the co2 table (bus vehicle-km and bus passenger-km share the name).
CO2_SOURCES: tuple[str, ...] = tuple(dict.fromkeys(VEHICLES + TRANSIT_MODES))
ACCOUNTINGS: tuple[str, ...] = ("territorial", "resident")

MJ_PER_KWH = 3.6

#: Columns required in the link-level input of :func:`vehicle_energy_and_co2`.
LINK_VKM_COLUMNS: tuple[str, ...] = (
    "vehicle",
    "powertrain",
    "road_category",
    "speed_limit_kph",
    "speed_kph",
    "area",
    "traffic",
    "road_user",
    "vkm_per_year",
)
_GROUP_KEYS = ["vehicle", "powertrain", "road_category", "area", "traffic", "road_user"]
_CO2_KEYS = ["source", "area", "traffic", "road_user", "powertrain"]

#: Which energy carriers each (vehicle, powertrain) uses; other pairs are unknown.
_CARRIERS_OF: dict[tuple[str, str], tuple[str, ...]] = {
    ("car", "petrol"): ("petrol_l",),
    ("car", "diesel"): ("diesel_l",),
    ("car", "phev"): ("petrol_l", "electricity_kwh"),
    ("car", "bev"): ("electricity_kwh",),
    ("van", "diesel"): ("diesel_l",),
    ("van", "bev"): ("electricity_kwh",),
    ("truck", "diesel"): ("diesel_l",),
    ("truck", "bev"): ("electricity_kwh",),
    ("bus", "diesel"): ("diesel_l",),
    ("bus", "bev"): ("electricity_kwh",),
}


class SpeedClampWarning(UserWarning):
    """Speeds outside a COPERT curve's valid range were clamped to it."""


# --------------------------------------------------------------------------------------------
# Factor file
# --------------------------------------------------------------------------------------------


class SpeedCurve(StrictModel):
    """One COPERT hot energy-consumption row (MJ/km as a function of km/h)."""

    alpha: float
    beta: float
    gamma: float
    delta: float
    epsilon: float
    zeta: float
    eta: float
    v_min_kph: float = Field(gt=0, le=250)
    v_max_kph: float = Field(gt=0, le=250)

    @model_validator(mode="after")
    def _range(self) -> SpeedCurve:
        if self.v_min_kph >= self.v_max_kph:
            raise ValueError("v_min_kph must be below v_max_kph")
        v = np.linspace(self.v_min_kph, self.v_max_kph, 101)
        with np.errstate(all="ignore"):
            num = self.alpha * v**2 + self.beta * v + self.gamma + self.delta / v
            den = self.epsilon * v**2 + self.zeta * v + self.eta
            energy = num / den
        if not (np.isfinite(energy).all() and (den > 0).all() and (energy > 0).all()):
            raise ValueError("the curve must give a positive, finite energy use at every speed from v_min_kph to v_max_kph")
        return self


class Curves(StrictModel):
    """The three curves: petrol and diesel fuel, electric (BEV proxy, MJ of electricity)."""

    petrol: SpeedCurve
    diesel: SpeedCurve
    electric: SpeedCurve


class Fuel(StrictModel):
    """Fuel constants: CO2 per kg, net calorific value, density."""

    co2_kg_per_kg: float = Field(gt=0)
    ncv_mj_per_kg: float = Field(gt=0)
    density_kg_per_l: float = Field(gt=0)

    @property
    def litres_per_mj(self) -> float:
        """Litres of fuel per MJ of fuel energy."""
        return 1.0 / (self.ncv_mj_per_kg * self.density_kg_per_l)

    @property
    def co2_kg_per_l(self) -> float:
        """Kg CO2 per litre burnt."""
        return self.co2_kg_per_kg * self.density_kg_per_l


class Fuels(StrictModel):
    """The ``[fuels.petrol]`` and ``[fuels.diesel]`` tables of ``emissions.toml``: CO2 content, heating value and density."""

    petrol: Fuel
    diesel: Fuel


class Cars(StrictModel):
    """The ``[cars]`` table of ``emissions.toml``: the PHEV utility factor and the charging efficiency."""

    phev_utility_factor: float = Field(ge=0, le=1)
    charging_efficiency: float = Field(gt=0, le=1)


class Trucks(StrictModel):
    """The ``[trucks]`` table of ``emissions.toml``: speed-independent diesel and battery-electric consumption."""

    diesel_l_per_100km: float = Field(gt=0)
    bev_kwh_per_km: float = Field(gt=0)


class PerKm(StrictModel):
    """The ``[vans]`` or ``[buses]`` table of ``emissions.toml``: speed-independent diesel and battery-electric consumption."""

    diesel_l_per_100km: float = Field(gt=0)
    bev_kwh_per_km: float = Field(gt=0)


class Series(StrictModel):
    """A year-keyed series of grid CO2 intensities (g/kWh) with strictly increasing years."""

    years: list[int]
    g_per_kwh: list[float]

    @model_validator(mode="after")
    def _shape(self) -> Series:
        if len(self.years) != len(self.g_per_kwh) or not self.years:
            raise ValueError("years and g_per_kwh must be non-empty and of equal length")
        if any(b <= a for a, b in zip(self.years, self.years[1:], strict=False)):
            raise ValueError("years must increase strictly")
        if any(v < 0 for v in self.g_per_kwh):
            raise ValueError("g_per_kwh must not be negative")
        return self


class Electricity(Series):
    """The ``[electricity]`` table of ``emissions.toml``: known grid intensities and the official projection after them."""

    interpolation: Literal["linear"] = "linear"
    projection: Series | None = None

    @model_validator(mode="after")
    def _projection_after(self) -> Electricity:
        if self.projection is not None and self.projection.years[0] <= self.years[-1]:
            raise ValueError("projection years must come after the last known year")
        return self


class TransitFactor(StrictModel):
    """One ``[rail.modes.*]`` table of ``emissions.toml``: g CO2 per person-km, optionally scaled with the grid."""

    g_per_pkm: float = Field(ge=0)
    scale_with_electricity: bool = False


class TransitModes(StrictModel):
    """The ``[rail.modes]`` tables of ``emissions.toml``: one factor per public-transport mode."""

    s_train: TransitFactor
    light_rail: TransitFactor
    bus: TransitFactor


class Rail(StrictModel):
    """The ``[rail]`` table of ``emissions.toml``: public-transport factors and the grid year they refer to."""

    reference_year: int
    modes: TransitModes


class Biofuel(StrictModel):
    """Biofuel share of the energy in pump petrol and diesel, by year (step-wise).

    The value of a year is that of the latest listed year at or before it, held after the last;
    years before the first are an error. Biogenic CO2 counts as zero (IPCC / Danish national
    accounts), so only ``1 - share`` of a blend's CO2 is counted.
    """

    years: list[int]
    petrol_energy_share: list[float]
    diesel_energy_share: list[float]

    @model_validator(mode="after")
    def _shape(self) -> Biofuel:
        n = len(self.years)
        if not n or len(self.petrol_energy_share) != n or len(self.diesel_energy_share) != n:
            raise ValueError("years, petrol_energy_share and diesel_energy_share must be non-empty and of equal length")
        if any(b <= a for a, b in zip(self.years, self.years[1:], strict=False)):
            raise ValueError("years must increase strictly")
        if any(not 0.0 <= v < 1.0 for v in self.petrol_energy_share + self.diesel_energy_share):
            raise ValueError("energy shares must lie in [0, 1)")
        return self


class FuelNonCo2(StrictModel):
    """CH4 and N2O per TJ of a fuel's energy (inventory table only; CO2 is unaffected)."""

    ch4_kg_per_tj: float = Field(ge=0)
    n2o_kg_per_tj: float = Field(ge=0)


class NonCo2(StrictModel):
    """CH4 and N2O factors of the road fuels and the GWP100 values that weigh them into CO2e."""

    petrol: FuelNonCo2
    diesel: FuelNonCo2
    gwp100_ch4: float = Field(gt=0)
    gwp100_n2o: float = Field(gt=0)


class EmissionFactors(StrictModel):
    """All factors of ``emissions.toml``, validated strictly."""

    curves: Curves
    fuels: Fuels
    cars: Cars
    trucks: Trucks
    vans: PerKm
    buses: PerKm
    electricity: Electricity
    biofuel: Biofuel
    rail: Rail
    non_co2: NonCo2


def load_emission_factors(path: Path | str | None = None) -> EmissionFactors:
    """Read and validate an emission-factor file on its own.

    A run reads it with the other parameter files through :func:`model.parameters.load_parameters`
    (``emissions.*`` overrides); both report errors in the same format.

    Parameters
    ----------
    path
        TOML file; defaults to ``model.settings.PARAMETERS_DIR / "emissions.toml"``.

    Returns
    -------
    EmissionFactors

    Raises
    ------
    VmobError
        If the file is missing or unreadable, a key is unknown or missing, or a value is invalid;
        the message names the file and the key path.
    """
    return load_toml_model(EmissionFactors, Path(path) if path is not None else PARAMETERS_DIR / "emissions.toml")


# --------------------------------------------------------------------------------------------
# Speed curves and per-km factors
# --------------------------------------------------------------------------------------------


def _curve_mj_per_km(curve: SpeedCurve, speed_kph: np.ndarray) -> tuple[np.ndarray, int]:
    """Evaluate one COPERT row; return (MJ/km, number of clamped speeds)."""
    v = np.asarray(speed_kph, dtype=float)
    if np.isnan(v).any():
        raise VmobError(f"Speed contains {int(np.isnan(v).sum())} missing values (NaN).")
    if (v < 0).any():
        raise VmobError(f"Speed contains {int((v < 0).sum())} negative values.")
    outside = (v < curve.v_min_kph) | (v > curve.v_max_kph)
    v = np.clip(v, curve.v_min_kph, curve.v_max_kph)
    num = curve.alpha * v**2 + curve.beta * v + curve.gamma + curve.delta / v
    den = curve.epsilon * v**2 + curve.zeta * v + curve.eta
    return num / den, int(outside.sum())


def _warn_clamped(n_clamped: int) -> None:
    if n_clamped:
        warnings.warn(
            f"{n_clamped} speed value(s) lay outside the COPERT curves' valid range "
            "and were clamped to it.",
            SpeedClampWarning,
            stacklevel=3,
        )


def _unknown(kind: str, value: object, allowed: tuple[str, ...]) -> VmobError:
    return VmobError(f"Unknown {kind} '{value}'; expected one of {', '.join(allowed)}.")


def _car_carriers(
    powertrain: str, speed_kph: np.ndarray, factors: EmissionFactors
) -> tuple[dict[str, np.ndarray], int]:
    """Per-km carrier use of a car: litres of fuel and grid kWh; plus the clamp count."""
    c, cars = factors.curves, factors.cars
    if powertrain == "petrol":
        mj, n = _curve_mj_per_km(c.petrol, speed_kph)
        return {"petrol_l": mj * factors.fuels.petrol.litres_per_mj}, n
    if powertrain == "diesel":
        mj, n = _curve_mj_per_km(c.diesel, speed_kph)
        return {"diesel_l": mj * factors.fuels.diesel.litres_per_mj}, n
    if powertrain in ("bev", "phev"):
        mj_el, n = _curve_mj_per_km(c.electric, speed_kph)
        kwh = mj_el / MJ_PER_KWH / cars.charging_efficiency
        if powertrain == "bev":
            return {"electricity_kwh": kwh}, n
        mj_p, n_p = _curve_mj_per_km(c.petrol, speed_kph)
        uf = cars.phev_utility_factor
        return {
            "petrol_l": (1.0 - uf) * mj_p * factors.fuels.petrol.litres_per_mj,
            "electricity_kwh": uf * kwh,
        }, max(n, n_p)
    raise _unknown("powertrain", powertrain, POWERTRAINS)


def _carriers_per_km(
    vehicle: str, powertrain: str, speed_kph: np.ndarray, factors: EmissionFactors
) -> tuple[dict[str, np.ndarray], int]:
    """Per-km carrier use of any vehicle/powertrain pair; plus the clamp count."""
    if vehicle == "car":
        return _car_carriers(powertrain, speed_kph, factors)
    if vehicle in ("van", "truck", "bus"):
        tables: dict[str, Trucks | PerKm] = {"van": factors.vans, "truck": factors.trucks, "bus": factors.buses}
        per_km = tables[vehicle]
        ones = np.ones(np.shape(speed_kph), dtype=float)
        if powertrain == "diesel":
            return {"diesel_l": ones * per_km.diesel_l_per_100km / 100.0}, 0
        if powertrain == "bev":
            return {"electricity_kwh": ones * per_km.bev_kwh_per_km}, 0
        raise VmobError(f"Unknown {vehicle} powertrain '{powertrain}'; expected one of {', '.join(VEHICLE_POWERTRAINS[vehicle])}.")
    raise _unknown("vehicle", vehicle, VEHICLES)


def energy_mj_per_km(
    powertrain: str, speed_kph: np.ndarray | float, factors: EmissionFactors
) -> np.ndarray:
    """Energy use of a car per km at the vehicle (COPERT hot curve), MJ/km.

    EC = (αV² + βV + γ + δ/V) / (εV² + ζV + η), with V clamped to the row's valid range
    (``parameters.md`` §1). Electricity is counted at the vehicle, before charging losses; a PHEV
    is the utility-factor-weighted mix of the electric and petrol curves.

    Parameters
    ----------
    powertrain
        ``petrol``, ``diesel``, ``phev`` or ``bev`` (``bev`` uses the PHEV electric-mode row).
    speed_kph
        Driven speeds, km/h.
    factors
        From :func:`load_emission_factors`.

    Returns
    -------
    numpy.ndarray
        MJ/km, same shape as ``speed_kph``.

    Warns
    -----
    SpeedClampWarning
        Once per call, with the number of speeds outside the valid range.
    """
    c = factors.curves
    speed = np.asarray(speed_kph, dtype=float)
    if powertrain == "petrol":
        mj, n = _curve_mj_per_km(c.petrol, speed)
    elif powertrain == "diesel":
        mj, n = _curve_mj_per_km(c.diesel, speed)
    elif powertrain == "bev":
        mj, n = _curve_mj_per_km(c.electric, speed)
    elif powertrain == "phev":
        mj_el, n_el = _curve_mj_per_km(c.electric, speed)
        mj_p, n_p = _curve_mj_per_km(c.petrol, speed)
        uf = factors.cars.phev_utility_factor
        mj, n = uf * mj_el + (1.0 - uf) * mj_p, max(n_el, n_p)
    else:
        raise _unknown("powertrain", powertrain, POWERTRAINS)
    _warn_clamped(n)
    return mj


def electricity_intensity_g_per_kwh(year: int, factors: EmissionFactors) -> float:
    """Danish electricity CO2 intensity of a year, g/kWh.

    Linear interpolation between the known years (``behaviour-and-emissions.md`` §4) and the
    projection points after them (assumption, see ``emissions.toml``).

    Raises
    ------
    VmobError
        If the year lies before the series or after its last (projected) year.
    """
    el = factors.electricity
    years = list(el.years) + (list(el.projection.years) if el.projection else [])
    values = list(el.g_per_kwh) + (list(el.projection.g_per_kwh) if el.projection else [])
    if not years[0] <= year <= years[-1]:
        raise VmobError(
            f"No electricity CO2 intensity for year {year} in emissions.toml "
            f"(the series and its projection cover {years[0]}-{years[-1]})."
        )
    return float(np.interp(year, years, values))


def biofuel_energy_share(fuel: str, year: int, factors: EmissionFactors) -> float:
    """Biofuel share of the energy in pump ``petrol`` or ``diesel`` sold in Denmark in a year.

    Step-wise: the value of the latest listed year at or before ``year`` (see ``emissions.toml``).

    Raises
    ------
    VmobError
        For another fuel or a year before the series.
    """
    bio = factors.biofuel
    if fuel not in ("petrol", "diesel"):
        raise VmobError(f"No biofuel share for fuel '{fuel}'; expected petrol or diesel.")
    if year < bio.years[0]:
        raise VmobError(f"No biofuel share for year {year} in emissions.toml (the series starts in {bio.years[0]}).")
    i = int(np.searchsorted(bio.years, year, side="right")) - 1
    shares = bio.petrol_energy_share if fuel == "petrol" else bio.diesel_energy_share
    return float(shares[i])


def fossil_co2_kg_per_unit(year: int, factors: EmissionFactors) -> dict[str, float]:
    """Counted (fossil) kg CO2 per unit of each carrier in a year.

    Litres of pump fuel × fossil CO2 per litre × (1 − biofuel energy share); grid kWh × the year's
    electricity intensity. The litres are pump litres computed with the fossil fuel's calorific
    value (the blend's slightly lower energy density is ignored, < 1 %).
    """
    return {
        "petrol_l": factors.fuels.petrol.co2_kg_per_l * (1.0 - biofuel_energy_share("petrol", year, factors)),
        "diesel_l": factors.fuels.diesel.co2_kg_per_l * (1.0 - biofuel_energy_share("diesel", year, factors)),
        "electricity_kwh": electricity_intensity_g_per_kwh(year, factors) / 1000.0,
    }


def energy_co2_t(energy: pd.DataFrame, year: int, factors: EmissionFactors) -> pd.Series:
    """Counted CO2 (t) of each row of an ``energy`` table (columns ``carrier``, ``amount``).

    Lets a caller break CO2 down by a key the ``co2`` table does not carry (e.g. road category).
    """
    _check_vocabulary(energy, "carrier", CARRIERS, "energy carrier")
    return energy["amount"] * energy["carrier"].map(fossil_co2_kg_per_unit(year, factors)) / 1000.0


def co2_g_per_km(
    powertrain: str,
    speed_kph: np.ndarray | float,
    year: int,
    factors: EmissionFactors,
    *,
    vehicle: str = "car",
) -> np.ndarray:
    """Hot CO2 per vehicle-km, g/km, at the driven speed and in the given year.

    Fuel: litres × density × 3.169 kg CO2/kg × (1 − the year's biofuel energy share: only fossil
    CO2 counts). Electricity: grid kWh (curve / charging
    efficiency) × the year's intensity. Trucks: the speed-independent factor.

    Parameters
    ----------
    powertrain
        ``petrol``, ``diesel``, ``phev``, ``bev`` (cars) or ``diesel``, ``bev`` (vans, trucks, buses).
    speed_kph
        Driven speeds, km/h (ignored for vans, trucks and buses).
    year
        Year of the electricity intensity.
    factors
        From :func:`load_emission_factors`.
    vehicle
        ``car``, ``van``, ``truck`` or ``bus``.

    Returns
    -------
    numpy.ndarray
        g CO2/km, same shape as ``speed_kph``.
    """
    per_km, n = _carriers_per_km(vehicle, powertrain, np.asarray(speed_kph, dtype=float), factors)
    _warn_clamped(n)
    return _co2_g(per_km, year, factors)


def _co2_g(carriers: Mapping[str, np.ndarray], year: int, factors: EmissionFactors) -> np.ndarray:
    """G CO2 from carrier amounts (litres, grid kWh)."""
    total: np.ndarray | float = 0.0
    kg = fossil_co2_kg_per_unit(year, factors)
    for carrier, amount in carriers.items():
        total = total + amount * kg[carrier] * 1000.0
    return np.asarray(total, dtype=float)


def _carrier_mj(carrier: str, amount: np.ndarray, factors: EmissionFactors) -> np.ndarray:
    """Energy content of a carrier amount, MJ."""
    if carrier == "electricity_kwh":
        return amount * MJ_PER_KWH
    fuel = factors.fuels.petrol if carrier == "petrol_l" else factors.fuels.diesel
    return amount / fuel.litres_per_mj


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _check_vocabulary(df: pd.DataFrame, column: str, allowed: tuple[str, ...], what: str) -> None:
    bad = sorted(set(df[column].unique()) - set(allowed), key=str)
    if bad:
        raise VmobError(
            f"Unknown {what} '{bad[0]}' in column '{column}'; expected one of {', '.join(allowed)}."
        )


# The tables below are summed on integer codes, not on text keys: each key column is coded by the
# rank of its value in the sorted vocabulary, the codes are combined into one integer (mixed radix,
# first key most significant) and summed with ``np.bincount``. Ascending combined codes are then the
# rows of a sorted ``groupby`` on the text columns, and the text is written once, for the output rows.


def _lexical_codes(values: pd.Series, allowed: tuple[str, ...], what: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a key column: each value's rank in the sorted vocabulary ``allowed``.

    Returns
    -------
    codes : numpy.ndarray
        int64, one per row.
    vocabulary : numpy.ndarray
        ``sorted(allowed)`` as objects: ``vocabulary[codes]`` gives the values back.

    Raises
    ------
    VmobError
        For a value outside ``allowed`` (the message of :func:`_check_vocabulary`).
    """
    vocabulary = np.array(sorted(allowed), dtype=object)
    index = pd.Index(vocabulary)
    if isinstance(values.dtype, pd.CategoricalDtype):  # the codes of the categories only
        of_category = index.get_indexer(values.cat.categories)
        codes = np.where(values.cat.codes >= 0, of_category[values.cat.codes], -1)
    else:
        codes = index.get_indexer(values.to_numpy())
    if (codes < 0).any():
        bad = sorted(set(values[codes < 0]), key=str)
        raise VmobError(
            f"Unknown {what} '{bad[0]}' in column '{values.name}'; expected one of {', '.join(allowed)}."
        )
    return codes.astype(np.int64, copy=False), vocabulary


def _sum_by_keys(
    codes: list[np.ndarray], sizes: list[int], values: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Sums of ``values`` per combination of key codes, like a sorted ``groupby().sum()``.

    Parameters
    ----------
    codes
        One code array per key column (codes ``0 .. sizes[k] - 1``), all as long as ``values``.
    sizes
        The number of codes of each key column.
    values
        The values to sum; missing values count as zero, as in pandas.

    Returns
    -------
    codes : tuple of numpy.ndarray
        Per key column, the codes of the combinations that occur, in ascending order of the
        combined code (the first key most significant).
    sums : numpy.ndarray
        The sum of each combination.
    """
    size = int(np.prod(sizes))
    key = np.ravel_multi_index(codes, sizes) if len(values) else np.zeros(0, dtype=np.intp)
    present = np.flatnonzero(np.bincount(key, minlength=size))
    sums = np.bincount(key, weights=np.where(np.isnan(values), 0.0, values), minlength=size)
    return np.unravel_index(present, sizes), sums[present].astype(float, copy=False)  # float also without rows


def _link_codes(link_vkm: pd.DataFrame) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Codes and sorted vocabularies of the key columns of a link table, after checking it.

    Raises
    ------
    VmobError
        A missing column, an unknown value (the first checked column with one is named), missing
        or negative vehicle-km.
    """
    missing = [c for c in LINK_VKM_COLUMNS if c not in link_vkm.columns]
    if missing:
        raise VmobError(f"Vehicle-km table lacks the column '{missing[0]}'.")
    vocabularies = {
        "vehicle": (VEHICLES, "vehicle"), "powertrain": (POWERTRAINS, "powertrain"),
        "road_category": (ROAD_CATEGORIES, "road category"), "area": (AREAS, "area"),
        "traffic": (TRAFFIC_TYPES, "traffic type"), "road_user": (ROAD_USERS, "road user"),
    }
    coded = [_lexical_codes(link_vkm[column], *vocabularies[column]) for column in _GROUP_KEYS]
    vkm = pd.to_numeric(link_vkm["vkm_per_year"], errors="coerce")
    if vkm.isna().any() or (vkm < 0).any():
        raise VmobError("Column 'vkm_per_year' of the vehicle-km table has missing or negative values.")
    return [codes for codes, _ in coded], [vocabulary for _, vocabulary in coded]


def split_link_vkm(
    edges: EdgeArrays,
    vkm: np.ndarray,
    groups: Sequence[tuple[str, str, str, str]],
    congested_kph: np.ndarray,
    peak_share: float,
) -> pd.DataFrame:
    """Rows of the link vehicle-km table (:data:`LINK_VKM_COLUMNS`) from vehicle-km per edge and group.

    Each group's km on an edge are split by the edge's ``inside_share`` into ``inside`` and
    ``outside``, and by ``peak_share`` into km at the congested peak speed and the rest at the
    free-flow speed; parts without km are left out.

    Parameters
    ----------
    edges
        The network's edges (``inside_share``, ``speed_kph`` free flow, ``road_category``, ``maxspeed_kph``).
    vkm
        Vehicle-km per year, edges × groups.
    groups
        ``(vehicle, powertrain, traffic, road_user)`` of each column of ``vkm``.
    congested_kph
        Peak driven speed per edge.
    peak_share
        Share of the km driven in the peak.

    Returns
    -------
    pandas.DataFrame
        One row per edge, group, area and speed regime with km, in that nesting (groups outermost).
    """
    # One piece per group × area × speed regime; the pieces' columns are concatenated once
    # (one DataFrame per piece cost more than the rest of the year's step).
    labels: list[tuple[str, str, str, str, str]] = []
    piece, edge_at, speed_at, value_at = [], [], [], []
    for g, (vehicle, powertrain, traffic, user) in enumerate(groups):
        used = vkm[:, g] > 0
        if not used.any():
            continue
        used_at = np.flatnonzero(used)
        for area, share in (("inside", edges.inside_share[used]), ("outside", 1.0 - edges.inside_share[used])):
            for speed, fraction in ((congested_kph[used], peak_share), (edges.speed_kph[used], 1.0 - peak_share)):
                values = vkm[used, g] * share * fraction
                keep = values > 0
                if not keep.any():
                    continue
                piece.append(np.full(int(keep.sum()), len(labels)))
                labels.append((vehicle, powertrain, area, traffic, user))
                edge_at.append(used_at[keep])
                speed_at.append(speed[keep])
                value_at.append(values[keep])
    if not labels:
        return pd.DataFrame({c: pd.Series(dtype=float if c.endswith(("kph", "year")) else object) for c in LINK_VKM_COLUMNS})
    label = np.array(labels, dtype=object)[np.concatenate(piece)]
    at = np.concatenate(edge_at)
    return pd.DataFrame({
        "vehicle": label[:, 0], "powertrain": label[:, 1], "road_category": edges.road_category[at],
        "speed_limit_kph": np.rint(edges.maxspeed_kph[at]).astype(int), "speed_kph": np.concatenate(speed_at),
        "area": label[:, 2], "traffic": label[:, 3], "road_user": label[:, 4], "vkm_per_year": np.concatenate(value_at),
    })


def vehicle_energy_and_co2(
    link_vkm: pd.DataFrame, year: int, factors: EmissionFactors
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Energy by carrier and CO2 of road vehicles from a link-level vehicle-km table.

    Parameters
    ----------
    link_vkm
        Long table, one row per link × vehicle group, with the columns ``vehicle`` (car|van|truck|bus),
        ``powertrain`` (petrol|diesel|phev|bev), ``road_category`` (motorway|ring|urban|local),
        ``speed_limit_kph``, ``speed_kph`` (driven speed), ``area`` (inside|outside), ``traffic``
        (a purpose of ``PURPOSES``, other_local for visitors, service, bus_service, municipal_fleet,
        background, through), ``road_user`` (resident|non_resident), ``vkm_per_year``.
    year
        Simulated year (electricity intensity).
    factors
        From :func:`load_emission_factors`.

    Returns
    -------
    energy : pandas.DataFrame
        Keys ``vehicle, powertrain, road_category, area, traffic, road_user, carrier``
        (petrol_l|diesel_l|electricity_kwh); values ``amount`` (litres or grid kWh per year) and
        ``energy_mj`` (MJ per year). Only the carriers a powertrain uses appear. Rows sorted by
        the keys (as text).
    co2 : pandas.DataFrame
        Keys ``source`` (car|van|truck|bus), ``area, traffic, road_user, powertrain``; value
        ``co2_t``. Rows sorted by the keys (as text).

    Raises
    ------
    VmobError
        Unknown vehicle, powertrain, road category, area, traffic type or road user (the value is
        named), a truck powertrain without a factor, missing or negative vkm or speeds.

    Warns
    -----
    SpeedClampWarning
        Once per call, with the number of link rows whose speed was clamped.
    """
    codes, vocabularies = _link_codes(link_vkm)
    sizes = [len(v) for v in vocabularies]
    vkm = link_vkm["vkm_per_year"].to_numpy(dtype=float)
    speed = link_vkm["speed_kph"].to_numpy(dtype=float)
    carriers = np.array(sorted(CARRIERS), dtype=object)

    # Per-km carrier use for each (vehicle, powertrain) pair in the order the pairs first occur (so
    # that the first pair without factors is the one named); one piece of rows per pair × carrier.
    vehicles, powertrains = vocabularies[0], vocabularies[1]
    pair_of_row, pairs = pd.factorize(codes[0] * sizes[1] + codes[1])
    row_pieces: list[np.ndarray] = [np.zeros(0, dtype=np.intp)]  # an empty first piece for a table without rows
    carrier_pieces: list[np.ndarray] = [np.zeros(0, dtype=np.intp)]
    amount_pieces: list[np.ndarray] = [np.zeros(0)]
    n_clamped = 0
    for i, pair in enumerate(pairs):
        idx = np.flatnonzero(pair_of_row == i)
        per_km, n = _carriers_per_km(vehicles[pair // sizes[1]], powertrains[pair % sizes[1]], speed[idx], factors)
        n_clamped += n
        for carrier, value in per_km.items():
            amount = value * vkm[idx]
            keep = ~np.isnan(amount)
            row_pieces.append(idx[keep])
            carrier_pieces.append(np.full(int(keep.sum()), list(carriers).index(carrier)))
            amount_pieces.append(amount[keep])
    _warn_clamped(n_clamped)

    rows = np.concatenate(row_pieces)
    row_codes = [c[rows] for c in codes] + [np.concatenate(carrier_pieces)]
    (*energy_codes, carrier_code), amount = _sum_by_keys(row_codes, [*sizes, len(carriers)], np.concatenate(amount_pieces))
    energy_mj = np.empty_like(amount)
    tonnes = np.empty_like(amount)
    kg = fossil_co2_kg_per_unit(year, factors)
    for c, carrier in enumerate(carriers):
        at = carrier_code == c
        energy_mj[at] = _carrier_mj(carrier, amount[at], factors)
        tonnes[at] = amount[at] * kg[carrier] / 1000.0
    energy = pd.DataFrame({
        **{column: vocabularies[k][energy_codes[k]] for k, column in enumerate(_GROUP_KEYS)},
        "carrier": carriers[carrier_code], "amount": amount, "energy_mj": energy_mj,
    })

    # The CO2 keys (source = vehicle, area, traffic, road_user, powertrain) as positions in _GROUP_KEYS.
    order = [_GROUP_KEYS.index(k) for k in ("vehicle", "area", "traffic", "road_user", "powertrain")]
    co2_codes, co2_t = _sum_by_keys([energy_codes[k] for k in order], [sizes[k] for k in order], tonnes)
    co2 = pd.DataFrame({
        **{column: vocabularies[k][co2_codes[j]] for j, (column, k) in enumerate(zip(_CO2_KEYS, order, strict=True))},
        "co2_t": co2_t,
    })
    return energy, co2


def transit_g_per_pkm(mode: str, year: int, factors: EmissionFactors) -> float:
    """G CO2 per passenger-km of a public-transport mode in a year.

    With ``scale_with_electricity`` the source value is scaled by the ratio of the year's
    electricity intensity to that of ``rail.reference_year``.
    """
    if mode not in TRANSIT_MODES:
        raise _unknown("public-transport mode", mode, TRANSIT_MODES)
    f: TransitFactor = getattr(factors.rail.modes, mode)
    if not f.scale_with_electricity:
        return f.g_per_pkm
    ref = electricity_intensity_g_per_kwh(factors.rail.reference_year, factors)
    return f.g_per_pkm * electricity_intensity_g_per_kwh(year, factors) / ref


def rail_co2_t(pkm_by_mode: Mapping[str, float], year: int, factors: EmissionFactors) -> dict[str, float]:
    """CO2 of public-transport passenger-km, t per year, by mode.

    Parameters
    ----------
    pkm_by_mode
        Passenger-km per year for ``s_train``, ``light_rail`` and optionally ``bus``.
    year
        Simulated year.
    factors
        From :func:`load_emission_factors`.

    Returns
    -------
    dict
        Mode → t CO2.

    Raises
    ------
    VmobError
        For a mode without a factor or a negative or missing pkm value.
    """
    out: dict[str, float] = {}
    for mode, pkm in pkm_by_mode.items():
        if pkm is None or not np.isfinite(pkm) or pkm < 0:
            raise VmobError(f"Passenger-km of mode '{mode}' must be a non-negative number, got {pkm}.")
        out[mode] = float(pkm) * transit_g_per_pkm(mode, year, factors) / 1e6
    return out


def rail_co2_table(rail_pkm: pd.DataFrame, year: int, factors: EmissionFactors) -> pd.DataFrame:
    """CO2 rows for public transport in the layout of the vehicle CO2 table.

    Parameters
    ----------
    rail_pkm
        Columns ``mode`` (s_train|light_rail|bus), ``area`` (inside|outside: where the pkm were
        travelled), ``road_user`` (resident|non_resident), ``pkm_per_year``; optional ``traffic``
        (default ``commute``).
    year, factors
        As for :func:`rail_co2_t`.

    Returns
    -------
    pandas.DataFrame
        Columns ``source, area, traffic, road_user, powertrain`` (= ``electric``), ``co2_t``.
    """
    modes, mode_vocabulary = _lexical_codes(rail_pkm["mode"], TRANSIT_MODES, "public-transport mode")
    areas, area_vocabulary = _lexical_codes(rail_pkm["area"], AREAS, "area")
    users, user_vocabulary = _lexical_codes(rail_pkm["road_user"], ROAD_USERS, "road user")
    if "traffic" in rail_pkm:
        traffic, traffic_vocabulary = _lexical_codes(rail_pkm["traffic"], TRAFFIC_TYPES, "traffic type")
    else:
        traffic_vocabulary = np.array(sorted(TRAFFIC_TYPES), dtype=object)
        traffic = np.full(len(rail_pkm), list(traffic_vocabulary).index("commute"))
    pkm = pd.to_numeric(rail_pkm["pkm_per_year"], errors="coerce")
    if pkm.isna().any() or (pkm < 0).any():
        raise VmobError("Column 'pkm_per_year' of the rail table has missing or negative values.")
    g = np.zeros(len(mode_vocabulary))
    for code in np.unique(modes):
        g[code] = transit_g_per_pkm(mode_vocabulary[code], year, factors)
    vocabularies = [mode_vocabulary, area_vocabulary, traffic_vocabulary, user_vocabulary]
    sizes = [len(v) for v in vocabularies]
    codes, co2_t = _sum_by_keys([modes, areas, traffic, users], sizes, pkm.to_numpy(dtype=float) * g[modes] / 1e6)
    return pd.DataFrame({
        **{column: vocabularies[k][codes[k]] for k, column in enumerate(_CO2_KEYS[:4])},
        "powertrain": np.full(len(co2_t), TRANSIT_POWERTRAIN, dtype=object), "co2_t": co2_t,
    })


def split_rail_pkm(
    pkm_by_mode: Mapping[str, float],
    inside_share: Mapping[str, float],
    *,
    road_user: str = "resident",
) -> pd.DataFrame:
    """Split each mode's passenger-km into inside/outside the boundary.

    ``inside_share`` is the share of the mode's pkm travelled on track inside the municipal
    boundary (e.g. track length inside / average trip length; a modelling choice of the caller).

    Returns
    -------
    pandas.DataFrame
        Columns ``mode, area, road_user, pkm_per_year`` for :func:`rail_co2_table`.
    """
    rows = []
    for mode, pkm in pkm_by_mode.items():
        if mode not in inside_share:
            raise VmobError(f"No inside-boundary share given for mode '{mode}'.")
        share = float(inside_share[mode])
        if not 0.0 <= share <= 1.0:
            raise VmobError(f"Inside-boundary share of mode '{mode}' must lie in [0, 1], got {share}.")
        rows.append((mode, "inside", road_user, float(pkm) * share))
        rows.append((mode, "outside", road_user, float(pkm) * (1.0 - share)))
    return pd.DataFrame(rows, columns=["mode", "area", "road_user", "pkm_per_year"])


def co2_accounting(vehicle_co2: pd.DataFrame, rail_co2: pd.DataFrame | None = None) -> pd.DataFrame:
    """Both CO2 accountings, stacked with an ``accounting`` column.

    - ``territorial``: every row with ``area == inside`` — all road users and traffic types
      (commuting, other local, through), and public-transport pkm travelled inside the boundary.
      This is the municipal (geographical) CO2 account.
    - ``resident``: every row with ``road_user == resident``, inside and outside — residents'
      commuting and other local car use and their public-transport pkm. Through traffic and
      in-commuters are non-residents and do not count here.

    A row may appear in both accountings; never add the two together.

    Parameters
    ----------
    vehicle_co2
        The second table of :func:`vehicle_energy_and_co2`.
    rail_co2
        Optional table of :func:`rail_co2_table`.

    Returns
    -------
    pandas.DataFrame
        Columns ``source, powertrain, area, traffic, road_user, accounting, co2_t``.
    """
    frames = [vehicle_co2] + ([rail_co2] if rail_co2 is not None else [])
    column = {k: np.concatenate([f[k].to_numpy() for f in frames]) for k in (*_CO2_KEYS, "co2_t")}
    territorial = np.flatnonzero(column["area"] == "inside")
    resident = np.flatnonzero(column["road_user"] == "resident")
    rows = np.concatenate([territorial, resident])
    keys = ["source", "powertrain", "area", "traffic", "road_user"]
    codes, vocabularies = [], []
    for k in keys:  # sorted codes of the values present, -1 for missing keys (left out, as by groupby)
        k_codes, k_values = pd.factorize(column[k], sort=True)
        codes.append(k_codes[rows])
        vocabularies.append(np.asarray(k_values, dtype=object))
    accountings = np.array(sorted(ACCOUNTINGS), dtype=object)
    codes.append(np.repeat([list(accountings).index("territorial"), list(accountings).index("resident")],
                           [len(territorial), len(resident)]))
    vocabularies.append(accountings)
    keep = np.logical_and.reduce([c >= 0 for c in codes])
    sizes = [len(v) for v in vocabularies]
    out_codes, co2_t = _sum_by_keys([c[keep] for c in codes], sizes, column["co2_t"][rows][keep].astype(float))
    return pd.DataFrame({
        **{k: vocabularies[j][out_codes[j]] for j, k in enumerate([*keys, "accounting"])}, "co2_t": co2_t,
    })
