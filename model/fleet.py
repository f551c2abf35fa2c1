"""Fleet: one national car and truck model, and segments that deviate from it for a reason.

Cars. A car buyer chooses among petrol, diesel, plug-in hybrid and battery-electric with a logit
whose BEV utility (log-odds) moves with the buyer's charging access: home charging (detached or
terraced house with a drive vs flat) and the density of public chargers. The intercepts are
calibrated each year so that the national market path of ``fleet.toml`` is reproduced exactly
at national-average access; the EU rule then takes petrol, diesel and plug-in hybrids off the
new-car market from 2035. Households replace their car every ``mean_holding_years`` on average
with a new car or a used one from the national stock, so a segment at national-average access
tracks the national stock. Residents have Vallensbæk's access (its dwellings and public chargers);
in-commuters, visitors and through traffic have the national average.

Trucks. The national stock renews at ``trucks.turnover_per_year`` with zero-emission shares of new
trucks from the facts to 2025 and, after, the EU heavy-duty CO2 standards plus a log-odds term for the
Danish CO2-differentiated km toll (calibrated on 2025, the one year with both).

Vans. The national van stock renews at ``vans.turnover_per_year`` with the new-van path of the EU van
CO2 standards (no new fossil vans from 2035).

Buses. The bus-km of municipally owned and of regional lines follow the operators' zero-emission paths
(municipal lines CO2-neutral from 2022, climate plan).

The municipal fleet. The municipality's own cars and vans follow the national stocks unless the
municipal fleet lever sets a higher zero-emission share (:func:`municipal_fleet_shares`).

Sources and assumptions: ``experiments/parameters/fleet.toml``; method: ``docs/emissions.md`` §2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.parameters import FleetParameters, interpolate
from model.population import Population, draw_categorical
from model.settings import BASE_YEAR
from model.vocabulary import BUS_POWERTRAINS, POWERTRAINS, TRUCK_POWERTRAINS, VAN_POWERTRAINS, VEHICLE_POWERTRAINS

BEV = POWERTRAINS.index("bev")


@dataclass(frozen=True)
class ChargingAccess:
    """A group of car buyers' access to charging.

    Attributes
    ----------
    public_per_1000
        Public charging points per 1,000 residents that the buyers see.
    home_share
        Share of the buyers who can charge at home.
    """

    public_per_1000: float
    home_share: float


# ----------------------------------------------------------------------------- national paths


def stock_path(
    initial: dict[str, float], sales: Callable[[int], dict[str, float]], turnover: float, year: int, powertrains: Sequence[str]
) -> np.ndarray:
    """Stock shares in ``year`` from the base-year stock, renewed each year by ``turnover`` of new sales."""
    stock = np.array([initial.get(p, 0.0) for p in powertrains])
    for y in range(BASE_YEAR + 1, year + 1):
        new = sales(y)
        stock = (1.0 - turnover) * stock + turnover * np.array([new[p] for p in powertrains])
    return stock


def national_stock_shares(fleet: FleetParameters, year: int) -> dict[str, float]:
    """Powertrain shares of the national car stock in ``year`` (through traffic, visitors, used cars)."""
    stock = stock_path(fleet.stock_2019, fleet.new_sales_shares, fleet.national.turnover_per_year, year, POWERTRAINS)
    return dict(zip(POWERTRAINS, stock.tolist(), strict=True))


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return float(np.log(p / (1.0 - p)))


def truck_new_sales_shares(fleet: FleetParameters, year: int) -> dict[str, float]:
    """Powertrain shares of new heavy trucks in ``year`` (diesel takes the rest).

    Until ``trucks.observed_until`` the observed path; after it the EU heavy-duty standards'
    zero-emission share with the toll's log-odds term added: ``logit(standard) + b · (diesel toll −
    zero-emission toll)``. The standard is the floor: a toll that charges zero-emission trucks more
    than diesel ones cannot take sales below it.
    """
    trucks = fleet.trucks
    if year <= trucks.observed_until:
        bev = interpolate(trucks.new_sales.get("bev", {BASE_YEAR: 0.0}), year)
    else:
        standard = interpolate(trucks.standard_zero_emission_share, year)
        term = trucks.toll.log_odds_per_dkk_per_km * trucks.toll.advantage_dkk_per_km(year)
        bev = max(_logistic(_logit(standard) + term), standard) if 0.0 < standard < 1.0 else standard
    return {"diesel": 1.0 - bev, "bev": bev}


def van_new_sales_shares(fleet: FleetParameters, year: int) -> dict[str, float]:
    """Powertrain shares of new vans in ``year`` (EU van standards; diesel takes the rest)."""
    bev = interpolate(fleet.vans.new_sales.get("bev", {BASE_YEAR: 0.0}), year)
    return {"diesel": 1.0 - bev, "bev": bev}


def van_stock_shares(fleet: FleetParameters, year: int) -> dict[str, float]:
    """Powertrain shares of the national van stock in ``year``."""
    vans = fleet.vans
    stock = stock_path(vans.stock_2019, lambda y: van_new_sales_shares(fleet, y), vans.turnover_per_year, year, VAN_POWERTRAINS)
    return dict(zip(VAN_POWERTRAINS, stock.tolist(), strict=True))


def bus_shares(fleet: FleetParameters, owner: str, year: int) -> dict[str, float]:
    """Powertrain shares of the bus-km of ``owner``'s lines (``municipal`` or ``regional``) in ``year``."""
    zero = interpolate(fleet.buses.zero_emission_share[owner], year)
    return {"diesel": 1.0 - zero, "bev": zero}


def municipal_fleet_shares(fleet: FleetParameters, vehicle: str, year: int, zero_emission_share: float) -> dict[str, float]:
    """Powertrain shares of the municipality's own cars or vans in ``year``.

    The national stock of the class, with the battery-electric share raised to at least
    ``zero_emission_share`` (the municipal fleet lever; 0 in the baseline) and the other
    powertrains scaled down in proportion. It never lowers the zero-emission share.

    Raises
    ------
    ValueError
        For a class other than car or van, or a share outside [0, 1].
    """
    if not 0.0 <= zero_emission_share <= 1.0:
        raise ValueError(f"the zero-emission share must lie between 0 and 1, got {zero_emission_share}")
    if vehicle == "car":
        stock = national_stock_shares(fleet, year)
    elif vehicle == "van":
        stock = van_stock_shares(fleet, year)
    else:
        raise ValueError(f"the municipal fleet has cars and vans, not '{vehicle}'")
    bev = max(stock["bev"], zero_emission_share)
    rest = 1.0 - stock["bev"]
    return {p: (bev if p == "bev" else (share * (1.0 - bev) / rest if rest > 0 else 0.0)) for p, share in stock.items()}


def stock_shares(fleet: FleetParameters, vehicle: str, year: int) -> dict[str, float]:
    """Powertrain shares of the national stock of a road vehicle class other than buses in ``year``."""
    paths: dict[str, Callable[[FleetParameters, int], dict[str, float]]] = {
        "car": national_stock_shares, "van": van_stock_shares, "truck": truck_stock_shares,
    }
    if vehicle not in paths:
        raise ValueError(f"no national stock for '{vehicle}' (known: {', '.join(paths)})")
    return paths[vehicle](fleet, year)


def truck_stock_shares(fleet: FleetParameters, year: int) -> dict[str, float]:
    """Powertrain shares of the national heavy-truck stock in ``year``."""
    trucks = fleet.trucks
    stock = stock_path(trucks.stock_2019, lambda y: truck_new_sales_shares(fleet, y), trucks.turnover_per_year, year, TRUCK_POWERTRAINS)
    return dict(zip(TRUCK_POWERTRAINS, stock.tolist(), strict=True))


def national_chargers_per_1000(fleet: FleetParameters, year: int) -> float:
    """National public charging points per 1,000 residents: the reference density grown with the BEV stock."""
    chargers = fleet.chargers
    reference = national_stock_shares(fleet, chargers.reference_year)["bev"]
    return chargers.national_per_1000_reference * national_stock_shares(fleet, year)["bev"] / reference


def national_access(fleet: FleetParameters, year: int) -> ChargingAccess:
    """The national-average charging access of ``year``."""
    return ChargingAccess(national_chargers_per_1000(fleet, year), fleet.home_charging.national_share)


def resident_access(fleet: FleetParameters, local_chargers: float, residents: float, year: int) -> ChargingAccess:
    """Vallensbæk residents' charging access: the local public chargers and the local dwellings.

    A resident sees the local density with weight ``choice.local_weight`` and the national one
    with the rest (chargers at work, in neighbouring municipalities, along the motorways).

    Raises
    ------
    ValueError
        For a negative charger count or a non-positive number of residents.
    """
    if local_chargers < 0 or residents <= 0:
        raise ValueError(f"chargers must not be negative and residents must be positive, got {local_chargers} and {residents}")
    weight = fleet.choice.local_weight
    national = national_chargers_per_1000(fleet, year)
    seen = weight * 1000.0 * local_chargers / residents + (1.0 - weight) * national
    return ChargingAccess(seen, fleet.home_charging.vallensbaek_share)


# ----------------------------------------------------------------------------- the choice model


def _logistic(x: float) -> float:
    return float(0.5 * (1.0 + np.tanh(0.5 * x)))


def calibrated_intercept(bev_share: float, home_share: float, home_log_odds: float) -> float:
    """BEV log-odds ``a`` of buyers without home charging such that the mixture gives ``bev_share``.

    Solves ``h·σ(a + β) + (1 − h)·σ(a) = bev_share`` by bisection (the left side rises with ``a``).
    """
    low, high = -50.0, 50.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        mixed = home_share * _logistic(mid + home_log_odds) + (1.0 - home_share) * _logistic(mid)
        low, high = (mid, high) if mixed < bev_share else (low, mid)
    return 0.5 * (low + high)


def choice_shares(reference: dict[str, float], access: ChargingAccess, national: ChargingAccess, fleet: FleetParameters) -> np.ndarray:
    """Powertrain shares chosen by buyers with ``access`` when national-average buyers choose ``reference``.

    A multinomial logit in which only the BEV utility depends on access, so the other powertrains
    keep their national proportions among themselves; at ``access == national`` the result equals
    ``reference`` exactly. A reference share of 0 or 1 stays 0 or 1 (a market without BEVs, or
    the EU rule).

    Returns
    -------
    numpy.ndarray
        Shares in the order of :data:`model.parameters.POWERTRAINS`, summing to 1.
    """
    shares = np.array([reference[p] for p in POWERTRAINS], dtype=float)
    shares = shares / shares.sum()
    bev = shares[BEV]
    if bev <= 0.0 or bev >= 1.0:
        return shares
    choice = fleet.choice
    beta_home = choice.home_charging_log_odds
    a = calibrated_intercept(bev, national.home_share, beta_home)
    a += choice.public_charger_log_odds_per_log_density * np.log(access.public_per_1000 / national.public_per_1000)
    p_bev = access.home_share * _logistic(a + beta_home) + (1.0 - access.home_share) * _logistic(a)
    out = shares * (1.0 - p_bev) / (1.0 - bev)
    out[BEV] = p_bev
    return out


def new_car_shares(fleet: FleetParameters, year: int, access: ChargingAccess) -> np.ndarray:
    """Powertrain shares of new cars bought in ``year`` by buyers with ``access`` (EU rule applied)."""
    return choice_shares(fleet.new_sales_shares(year), access, national_access(fleet, year), fleet)


def used_car_shares(fleet: FleetParameters, year: int, access: ChargingAccess) -> np.ndarray:
    """Powertrain shares of used cars bought in ``year``: last year's national stock, chosen with ``access``."""
    return choice_shares(national_stock_shares(fleet, year - 1), access, national_access(fleet, year), fleet)


def new_car_probability(fleet: FleetParameters) -> float:
    """Share of new cars among households' replacements: national turnover × mean holding time."""
    return fleet.national.turnover_per_year * fleet.replacement.mean_holding_years


def replace_cars(
    population: Population,
    fleet: FleetParameters,
    year: int,
    residents: ChargingAccess,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Age the cars one year and replace some, new or used.

    Residents choose with their own access; in-commuters, who live elsewhere in the region,
    with the national average.

    Returns
    -------
    replaced, bought_new
        Masks of the agents who replaced their car, and of those whose replacement is new.
    """
    n = len(population)
    has_car = population.powertrain >= 0
    population.car_age[has_car] += 1
    replacing = has_car & (rng.random(n) < 1.0 / fleet.replacement.mean_holding_years)
    bought_new = replacing & (rng.random(n) < new_car_probability(fleet))
    national = national_access(fleet, year)
    new = {True: new_car_shares(fleet, year, residents), False: new_car_shares(fleet, year, national)}
    used = {True: used_car_shares(fleet, year, residents), False: used_car_shares(fleet, year, national)}
    resident = population.resident[replacing]
    is_new = bought_new[replacing]
    shares = np.where(
        is_new[:, None],
        np.where(resident[:, None], new[True][None, :], new[False][None, :]),
        np.where(resident[:, None], used[True][None, :], used[False][None, :]),
    )
    population.powertrain[replacing] = draw_categorical(shares, rng)
    population.car_age[bought_new] = 0
    return replacing, bought_new


# ----------------------------------------------------------------------------- the output table


def fleet_table(
    population: Population,
    weights: np.ndarray,
    bought_new: np.ndarray,
    fleet: FleetParameters,
    year: int,
    residents: ChargingAccess,
    municipal_zero_emission: dict[str, float] | None = None,
) -> pd.DataFrame:
    """The ``fleet`` output rows of one year: stock and new registrations by class, segment and powertrain.

    Vans (national stock) and buses (bus-km shares of municipal and regional lines) give shares
    only; so does the municipal fleet (cars and vans) for the classes in ``municipal_zero_emission``
    (class → the zero-emission share the municipal fleet lever sets, 0 without it).

    Agents' segments (residents' and in-commuters' cars) give weighted counts and shares (no rows
    for a segment without cars); the national segment (through traffic and visitors) gives shares only. ``new_sales_share`` is the
    segment's choice probabilities for a new car in the year.
    """
    rows = []
    national = national_access(fleet, year)
    for segment, mask, access in (("resident", population.resident, residents), ("in_commuter", ~population.resident, national)):
        cars = mask & (population.powertrain >= 0)
        if not cars.any():
            continue  # a tiny sample may hold no car of a segment: no rows rather than shares of nothing
        stock = np.bincount(population.powertrain[cars], weights=weights[cars], minlength=len(POWERTRAINS))
        new = np.bincount(population.powertrain[cars & bought_new], weights=weights[cars & bought_new], minlength=len(POWERTRAINS))
        probabilities = new_car_shares(fleet, year, access)
        for i, powertrain in enumerate(POWERTRAINS):
            rows.append(("car", segment, powertrain, stock[i] / stock.sum(), probabilities[i], stock[i], new[i]))
    car_stock, car_new = national_stock_shares(fleet, year), fleet.new_sales_shares(year)
    rows += [("car", "national", p, car_stock[p], car_new[p], np.nan, np.nan) for p in POWERTRAINS]
    truck_stock, truck_new = truck_stock_shares(fleet, year), truck_new_sales_shares(fleet, year)
    rows += [("truck", "national", p, truck_stock[p], truck_new[p], np.nan, np.nan) for p in TRUCK_POWERTRAINS]
    van_stock, van_new = van_stock_shares(fleet, year), van_new_sales_shares(fleet, year)
    rows += [("van", "national", p, van_stock[p], van_new[p], np.nan, np.nan) for p in VAN_POWERTRAINS]
    for owner in ("municipal", "regional"):
        bus = bus_shares(fleet, owner, year)
        rows += [("bus", owner, p, bus[p], np.nan, np.nan, np.nan) for p in BUS_POWERTRAINS]
    for vehicle, share in (municipal_zero_emission or {}).items():
        own = municipal_fleet_shares(fleet, vehicle, year, share)
        rows += [(vehicle, "municipal", p, own[p], np.nan, np.nan, np.nan) for p in VEHICLE_POWERTRAINS[vehicle]]
    return pd.DataFrame(
        rows, columns=["vehicle", "segment", "powertrain", "stock_share", "new_sales_share", "stock_vehicles", "new_vehicles"]
    )
