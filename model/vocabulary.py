"""The model's vocabulary: modes and nests, trip purposes, vehicle classes, powertrains, road categories.

Every other module takes these names from here, so a new mode, purpose or powertrain is
declared once. A mode is a :class:`Mode` record in :data:`MODE_TABLE`; what the choice model
does with it is named by its ``rule`` (a key of :data:`model.choice.MODE_RULES`), so a mode
that behaves like an existing one is data only (docs/architecture.md, "Adding a mode").
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# Trip purposes, vehicles, powertrains, roads
# --------------------------------------------------------------------------------------------

#: Trip purposes the demand model simulates: commuting (the commuters of
#: :mod:`model.population`) and residents' other trips (:mod:`model.trips`), each with its own
#: trip rates, destinations and mode-choice parameters (``experiments/parameters/purposes.toml``).
PURPOSES: tuple[str, ...] = ("commute", "education", "shopping", "leisure", "escort", "business")
#: Purposes whose trips come from :mod:`model.trips` (all but commuting).
TRIP_PURPOSES: tuple[str, ...] = PURPOSES[1:]
#: Purposes with their own trip rates, destinations and mode choice; escort trips follow from
#: children's car trips (a parent drives).
GENERATED_PURPOSES: tuple[str, ...] = ("education", "shopping", "leisure", "business")
#: Purpose label of vehicle-km that no agent's purpose explains (visitors, through traffic).
NO_PURPOSE = "none"
#: Age groups of the resident population (``population.toml`` ``[age_groups]``).
AGE_GROUPS: tuple[str, ...] = ("0-14", "15-17", "18-64", "65+")
#: Person groups of the synthetic residents (:mod:`model.persons`), each in one age group.
PERSON_GROUPS: tuple[str, ...] = ("child", "youth", "student", "worker", "other_adult", "pensioner")
#: The age group of each person group.
PERSON_AGE_GROUP: dict[str, str] = {
    "child": "0-14", "youth": "15-17", "student": "18-64", "worker": "18-64", "other_adult": "18-64", "pensioner": "65+",
}

#: Road vehicle classes of the vehicle-km contract (docs/outputs.md): cars, vans (light commercial
#: vehicles up to 3.5 t), heavy trucks (the counts' long vehicles) and buses (scheduled bus services).
VEHICLES: tuple[str, ...] = ("car", "van", "truck", "bus")
#: Classes of external (through) road traffic, estimated from the counts (model/external_demand.py).
EXTERNAL_CLASSES: tuple[str, ...] = ("car", "van", "truck")
#: Periods of the day assigned separately (experiments/parameters/traffic.toml).
PERIODS: tuple[str, ...] = ("am_peak", "pm_peak", "off_peak")
#: Car powertrains, in the index order of :attr:`model.population.Population.powertrain`.
POWERTRAINS: tuple[str, ...] = ("petrol", "diesel", "phev", "bev")
#: Truck powertrains.
TRUCK_POWERTRAINS: tuple[str, ...] = ("diesel", "bev")
#: Van powertrains (the few petrol and plug-in vans are counted as diesel: docs/emissions.md §2).
VAN_POWERTRAINS: tuple[str, ...] = ("diesel", "bev")
#: Bus powertrains ("bev" stands for every zero-emission bus: docs/emissions.md §2).
BUS_POWERTRAINS: tuple[str, ...] = ("diesel", "bev")
#: Powertrains of each road vehicle class (all of them names of :data:`POWERTRAINS`).
VEHICLE_POWERTRAINS: dict[str, tuple[str, ...]] = {
    "car": POWERTRAINS, "van": VAN_POWERTRAINS, "truck": TRUCK_POWERTRAINS, "bus": BUS_POWERTRAINS,
}
#: Fleet segments: residents' commuting cars, in-commuters' cars, the national stock (through traffic,
#: visitors, vans), the municipality's own vehicles and municipally owned bus lines, and regional bus lines.
FLEET_SEGMENTS: tuple[str, ...] = ("resident", "in_commuter", "national", "municipal", "regional")
#: Road categories of the network (network.toml) and of the output tables.
ROAD_CATEGORIES: tuple[str, ...] = ("motorway", "ring", "urban", "local")
#: Road types of the municipal account's national average factors (model/municipal_account.py).
ACCOUNT_ROAD_TYPES: tuple[str, ...] = ("urban", "rural", "motorway")
#: Where a vehicle-km is driven, relative to the municipal boundary.
AREAS: tuple[str, ...] = ("inside", "outside")
#: Kinds of road traffic: the agents' trips by purpose, other local car trips, vans serving homes and
#: firms (``service``), scheduled buses (``bus_service``), the municipality's own cars and vans
#: (``municipal_fleet``), and through traffic (every trip with neither end in Vallensbæk, on any road).
LOCAL_TRAFFIC_TYPES: tuple[str, ...] = ("service", "bus_service", "municipal_fleet")
TRAFFIC_TYPES: tuple[str, ...] = (*PURPOSES, "other_local", *LOCAL_TRAFFIC_TYPES, "through")
#: Who drives: residents of the municipality or not.
ROAD_USERS: tuple[str, ...] = ("resident", "non_resident")


# --------------------------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------------------------

#: Nests of modes: for reporting and for the nested logit (each nest's scale μ is
#: ``[nests]`` in ``mode_choice.toml``; 1, i.e. plain logit, where not given).
NESTS: tuple[str, ...] = ("car", "active", "public_transport")
#: Nests whose members are paths of one mode rather than modes (public transport: the S-train
#: path and the path with a light-rail leg). Their members share the rider's taste draw and the
#: habit bonus, and a member worse on every path attribute than another is not offered
#: (:func:`model.choice.utilities`).
PATH_NESTS: tuple[str, ...] = ("public_transport",)


@dataclass(frozen=True)
class Mode:
    """One commuting mode.

    Parameters
    ----------
    name
        Key used in the parameter files (``constants``, ``taste_sd``) and the output tables.
    nest
        One of :data:`NESTS`.
    rule
        Key of :data:`model.choice.MODE_RULES`: the function that gives the mode's utility,
        availability and distance. Modes that behave alike share a rule (both rail modes use
        ``"transit"``).
    vehicle
        Road vehicle class its trips drive (they load the network and count as vehicle-km);
        None for modes that put no vehicle of their own on the roads.
    transit_lines
        For public transport: the line modes of ``transit.toml`` its paths may ride. A mode that
        may ride other modes' lines is skimmed as "at least one leg on its own lines".
    """

    name: str
    nest: str
    rule: str
    vehicle: str | None = None
    transit_lines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.nest not in NESTS:
            raise ValueError(f"mode '{self.name}': unknown nest '{self.nest}' (known: {', '.join(NESTS)})")
        if self.vehicle is not None and self.vehicle not in VEHICLES:
            raise ValueError(f"mode '{self.name}': unknown vehicle '{self.vehicle}' (known: {', '.join(VEHICLES)})")


#: The commuting modes of the model, in the column order of the choice arrays.
MODE_TABLE: tuple[Mode, ...] = (
    Mode("car", nest="car", rule="car", vehicle="car"),
    Mode("bike", nest="active", rule="bike"),
    Mode("walk", nest="active", rule="walk"),
    Mode("s_train", nest="public_transport", rule="transit", transit_lines=("s_train",)),
    # Light-rail paths may use S-train legs too, but ride at least one light-rail leg.
    Mode("light_rail", nest="public_transport", rule="transit", transit_lines=("s_train", "light_rail")),
)

_REGISTRY: dict[str, Mode] = {mode.name: mode for mode in MODE_TABLE}

#: Names of the modes of :data:`MODE_TABLE`, in order.
MODES: tuple[str, ...] = tuple(mode.name for mode in MODE_TABLE)
#: The mode a commuter without any available mode takes (a lift; docs/model.md).
FALLBACK_MODE = "car"


def modes_in(nest: str, table: tuple[Mode, ...] = MODE_TABLE) -> tuple[str, ...]:
    """Names of the modes of ``table`` in ``nest``."""
    return tuple(mode.name for mode in table if mode.nest == nest)


#: Rail modes, whose passenger-km are split inside/outside the boundary and get a g/pkm factor.
RAIL_MODES: tuple[str, ...] = modes_in("public_transport")


def register_mode(mode: Mode) -> None:
    """Make ``mode`` known, so that a parameter file may list it among the model's modes."""
    if mode.name in _REGISTRY and _REGISTRY[mode.name] != mode:
        raise ValueError(f"mode '{mode.name}' is already registered differently")
    _REGISTRY[mode.name] = mode


def unregister_mode(name: str) -> None:
    """Forget a mode added by :func:`register_mode` (the built-in modes stay)."""
    if name in MODES:
        raise ValueError(f"mode '{name}' is built in")
    _REGISTRY.pop(name, None)


def known_modes() -> tuple[str, ...]:
    """Every mode a parameter file may name: the built-in ones, then the registered ones."""
    return tuple(_REGISTRY)


def mode_table(names: tuple[str, ...] | list[str]) -> tuple[Mode, ...]:
    """The :class:`Mode` records of ``names``, in that order.

    Raises
    ------
    KeyError
        Naming the first unknown mode.
    """
    return tuple(_REGISTRY[name] for name in names)
