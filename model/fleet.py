"""Car fleet: household car replacement, EV uptake with local chargers, the national stock.

Residents' EV adoption happens only when an agent replaces its car: the new car
is battery-electric with the national new-sales share of the year times a local
charger effect (Schulz & Rode 2022; Ma et al. 2024; see ``fleet.toml``).
"""

from __future__ import annotations

import numpy as np

from model.parameters import FleetParameters, interpolate
from model.population import Population, draw_categorical
from model.settings import BASE_YEAR
from model.vocabulary import POWERTRAINS

BEV = POWERTRAINS.index("bev")


def charger_multiplier(fleet: FleetParameters, local_chargers: float, residents: float, year: int) -> float:
    """Relative EV uptake from the local public-charger density.

    ``((local + floor) / (national + floor)) ** elasticity`` with densities per
    1,000 residents and the home-charging floor from ``fleet.toml``.
    """
    chargers = fleet.chargers
    local = 1000.0 * local_chargers / residents
    national = interpolate(chargers.national_per_1000, year)
    floor = chargers.home_charging_floor_per_1000
    return float(((local + floor) / (national + floor)) ** chargers.elasticity)


def purchase_shares(fleet: FleetParameters, year: int, multiplier: float) -> np.ndarray:
    """Powertrain shares of a car bought in ``year`` with the local charger effect applied.

    The non-BEV rest keeps the national mix of the other powertrains; when the
    national sales are all BEV (from 2035) and the local effect is below 1,
    petrol takes the rest, as in :meth:`FleetParameters.new_sales_shares`.
    """
    national = fleet.new_sales_shares(year)
    bev = min(national["bev"] * multiplier, 1.0)
    others = np.array([national[p] for p in POWERTRAINS])
    others[BEV] = 0.0
    rest = others.sum()
    if rest <= 0:
        others[POWERTRAINS.index("petrol")] = rest = 1.0
    shares = others / rest * (1.0 - bev)
    shares[BEV] = bev
    return shares


def replace_cars(
    population: Population,
    fleet: FleetParameters,
    year: int,
    multiplier: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Age the cars one year and replace some; return the mask of agents who bought a car.

    Residents buy with the local charger effect; in-commuters, who live
    elsewhere, with the national shares.
    """
    has_car = population.powertrain >= 0
    population.car_age[has_car] += 1
    replacing = has_car & (rng.random(len(population)) < 1.0 / fleet.replacement.mean_holding_years)
    local = purchase_shares(fleet, year, multiplier)
    national = purchase_shares(fleet, year, 1.0)
    shares = np.where(population.resident[:, None], local[None, :], national[None, :])[replacing]
    population.powertrain[replacing] = draw_categorical(shares, rng)
    population.car_age[replacing] = 0
    return replacing


def national_stock_shares(fleet: FleetParameters, year: int) -> dict[str, float]:
    """Powertrain shares of the national car stock in ``year`` (drives through traffic).

    Starts from the 2019 stock; each year ``turnover_per_year`` of it is
    replaced with that year's new-sales shares.
    """
    stock = np.array([fleet.stock_2019.get(p, 0.0) for p in POWERTRAINS])
    turnover = fleet.national.turnover_per_year
    for y in range(BASE_YEAR + 1, year + 1):
        sales = fleet.new_sales_shares(y)
        stock = (1.0 - turnover) * stock + turnover * np.array([sales[p] for p in POWERTRAINS])
    return dict(zip(POWERTRAINS, stock.tolist(), strict=True))
