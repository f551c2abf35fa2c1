"""The commuter agent: a Mesa agent whose attributes are views into the model's arrays.

The yearly choice is computed for all agents at once by the model
(:mod:`model.choice`); an agent object gives Mesa's API (``model.agents``,
``AgentSet.select``/``groupby``, batch runs) and per-agent inspection without
holding its own copy of the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from model.vocabulary import POWERTRAINS

if TYPE_CHECKING:
    from model.simulation import MobilityModel


class Commuter(mesa.Agent):
    """One synthetic commuter (standing for ``weight`` real ones).

    Parameters
    ----------
    model
        The owning :class:`model.simulation.MobilityModel`.
    index
        Row of this agent in the model's population arrays.
    """

    model: MobilityModel

    def __init__(self, model: MobilityModel, index: int) -> None:
        super().__init__(model)
        self.index = index

    @property
    def resident(self) -> bool:
        """Lives in Vallensbæk (False: an in-commuter working there)."""
        return bool(self.model.population.resident[self.index])

    @property
    def home_zone(self) -> str:
        """Id of the home zone."""
        return self.model.context.zones.ids[self.model.population.home[self.index]]

    @property
    def work_zone(self) -> str:
        """Id of the workplace zone."""
        return self.model.context.zones.ids[self.model.population.work[self.index]]

    @property
    def mode(self) -> str | None:
        """The commuting mode this year (None before the first step)."""
        index = self.model.population.mode[self.index]
        return self.model.modes[index].name if index >= 0 else None

    @property
    def powertrain(self) -> str | None:
        """Powertrain of the household car (None without a car)."""
        index = self.model.population.powertrain[self.index]
        return POWERTRAINS[index] if index >= 0 else None

    @property
    def car_available(self) -> bool:
        """The household has a car the commuter can use."""
        return bool(self.model.population.car_available[self.index])

    @property
    def has_bike(self) -> bool:
        """Owns a bicycle."""
        return bool(self.model.population.has_bike[self.index])

    @property
    def ebike(self) -> bool:
        """The bicycle is an e-bike."""
        return bool(self.model.population.ebike[self.index])

    @property
    def value_of_time(self) -> float:
        """Value of travel time, DKK per hour."""
        return float(self.model.population.vot_dkk_per_min[self.index] * 60.0)

    @property
    def weight(self) -> float:
        """Real commuters this agent stands for in the current year."""
        return float(self.model.weights[self.index])
