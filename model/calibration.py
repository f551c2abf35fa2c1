"""Calibration of the modal constants to the 2019 commute shares of the residents.

The constants move by ``ln(target / model)`` each iteration (the usual
ActivitySim/ALOGIT update) while the population, network and seed stay fixed,
until every share is within the tolerance. Shares are the expected values of
the habit steady state of 2019, with congestion in the loop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from model.errors import VmobError
from model.files import StrictModel, atomic_path, load_toml_model
from model.parameters import ChoiceParameters, load_parameters
from model.settings import BASE_YEAR, CALIBRATION_DIR
from model.vocabulary import MODES, known_modes

DEFAULT_TARGETS = CALIBRATION_DIR / "targets_2019.toml"
DEFAULT_CONSTANTS = CALIBRATION_DIR / "constants.toml"


class Targets(StrictModel):
    """The schema of ``targets_2019.toml``."""

    tolerance: float = Field(gt=0, le=0.05)
    shares: dict[str, float]
    proxy: dict[str, str] = Field(default_factory=dict)

    @field_validator("shares")
    @classmethod
    def _shares(cls, shares: dict[str, float]) -> dict[str, float]:
        unknown = set(shares) - set(known_modes())
        if unknown:
            raise ValueError(f"unknown mode {', '.join(sorted(unknown))} (modes: {', '.join(known_modes())})")
        missing = set(MODES) - set(shares)
        if missing:
            raise ValueError(f"lacks {', '.join(sorted(missing))} (give 0 for a mode that did not run)")
        if any(v < 0 for v in shares.values()):
            raise ValueError("shares cannot be negative")
        if shares["car"] <= 0:
            raise ValueError("car must be positive: it is the reference mode of the calibration")
        total = sum(shares.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1 (they sum to {total:.4f})")
        return shares

    @model_validator(mode="after")
    def _valid(self) -> Targets:
        for mode, proxy in self.proxy.items():
            if mode not in self.shares or proxy not in self.shares or self.shares.get(proxy, 0) <= 0:
                raise ValueError(f"proxy.{mode} = '{proxy}' must map a mode to a calibrated mode")
        return self


@dataclass
class CalibrationResult:
    """Outcome of :func:`calibrate`."""

    constants: dict[str, float]
    shares: dict[str, float]
    targets: dict[str, float]
    iterations: int
    converged: bool
    max_error: float
    history: list[dict[str, float]]


def load_targets(path: str | Path | None = None) -> Targets:
    """Read and validate the calibration targets."""
    return load_toml_model(Targets, Path(path or DEFAULT_TARGETS))


def expected_resident_shares(model: Any, choice: ChoiceParameters | None = None) -> dict[str, float]:
    """Residents' expected 2019 mode shares of a freshly built model (no draws).

    ``choice`` replaces the model's choice parameters (the constants being calibrated).
    """
    date = dt.date(model.start_year, 7, 1)
    everyone = np.ones(len(model.population), dtype=bool)
    P = model._equilibrate(model.start_year, date, everyone, first=True, choice=choice)
    resident = model.population.resident
    w = model.weights[resident]
    shares = (P[resident] * w[:, None]).sum(axis=0) / w.sum()
    return dict(zip((choice or model.params.choice).modes, shares.tolist(), strict=True))


def share_bounds(model: Any) -> dict[str, tuple[float, float]]:
    """Residents' share (by weight) that each mode can take at the least and at the most.

    At the least: those for whom it is the only available mode; at the most:
    those for whom it is available. No constant moves a share outside these.
    """
    from model.choice import utilities

    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    _, available = utilities(model.population, model.skims, model.context.zones, model.params.choice, ratio, habit=False)
    available = available[model.population.resident]
    w = model.weights[model.population.resident]
    only = available & (available.sum(axis=1) == 1)[:, None]
    low, high = (only * w[:, None]).sum(axis=0) / w.sum(), (available * w[:, None]).sum(axis=0) / w.sum()
    return {m: (float(low[k]), float(high[k])) for k, m in enumerate(model.params.choice.modes)}


def check_reachable(targets: Targets, bounds: dict[str, tuple[float, float]]) -> None:
    """Raise a :class:`VmobError` naming the first target share that no set of constants can reach."""
    for m, (low, high) in bounds.items():
        target = targets.shares[m]
        if target > 0 and (target > high - targets.tolerance or target < low - targets.tolerance):
            raise VmobError(
                f"calibration target shares.{m} = {target:.3f} cannot be reached: in {BASE_YEAR} {m} is available to "
                f"{100 * high:.1f} % of resident commuters and the only way to work for {100 * low:.1f} %"
            )


def calibrate(
    context: Any,
    targets: Targets,
    overrides: dict[str, Any] | None = None,
    seed: int = 1,
    sample_fraction: float = 1.0,
    max_iterations: int = 40,
) -> CalibrationResult:
    """Adjust the modal constants until the 2019 resident shares meet the targets.

    Parameters
    ----------
    context
        :class:`model.simulation.ModelContext`.
    targets
        Target shares and tolerance.
    overrides
        Parameter overrides of the experiment (the constants are calibrated on top).
    seed, sample_fraction
        Population draw used throughout.
    max_iterations
        Upper bound on constant updates.

    Raises
    ------
    VmobError
        Naming the target share that no constants can reach (a mode not
        available to enough residents, or the only way to work for too many).
    """
    from model.simulation import MobilityModel

    overrides = dict(overrides or {})
    base = load_parameters(overrides, calibrated=False)
    constants = dict(base.choice.constants)
    modes = base.choice.modes
    if set(targets.shares) != set(modes):
        raise VmobError(
            f"calibration targets name the modes {', '.join(sorted(targets.shares))}, the parameters simulate "
            f"{', '.join(modes)}: give a target share for each simulated mode (0 for a mode that did not run)"
        )
    model = MobilityModel(context, base, start_year=BASE_YEAR, end_year=BASE_YEAR, sample_fraction=sample_fraction, rng=seed)
    history: list[dict[str, float]] = []
    shares: dict[str, float] = {}
    error = np.inf
    for iteration in range(1, max_iterations + 1):
        trial = load_parameters({**overrides, **{f"choice.constants.{m}": v for m, v in constants.items()}}, calibrated=False)
        for volume in model.volume.values():  # every trial starts like a fresh model (commuters and through traffic)
            volume[:] = 0.0
        shares = expected_resident_shares(model, trial.choice)
        if iteration == 1:
            check_reachable(targets, share_bounds(model))
        history.append({**shares})
        error = max(abs(shares[m] - targets.shares[m]) for m in modes if targets.shares[m] > 0)
        if error <= targets.tolerance:
            constants.update({mode: constants[proxy] for mode, proxy in targets.proxy.items()})
            return CalibrationResult(constants, shares, dict(targets.shares), iteration, True, error, history)
        for m in modes:
            if m != "car" and targets.shares[m] > 0 and shares[m] > 0:
                constants[m] += float(np.log(targets.shares[m] / shares[m]) - np.log(targets.shares["car"] / shares["car"]))
    return CalibrationResult(constants, shares, dict(targets.shares), max_iterations, False, error, history)


def write_constants(result: CalibrationResult, provenance: dict[str, Any], path: str | Path | None = None) -> Path:
    """Write the calibrated constants with their provenance (atomically)."""
    if not result.converged:
        worst = max(result.targets, key=lambda m: abs(result.shares.get(m, 0.0) - result.targets[m]))
        raise VmobError(
            f"calibration did not converge in {result.iterations} iterations (largest error "
            f"{100 * result.max_error:.2f} share points, shares.{worst}); constants not written"
        )
    path = Path(path or DEFAULT_CONSTANTS)
    lines = [
        "# Calibrated alternative-specific constants, written by `vmob calibrate`; read by every run",
        "# (model.parameters.load_parameters merges them into mode_choice.toml's [constants]).",
        *(f"# {key}: {value}" for key, value in provenance.items()),
        f"# iterations: {result.iterations}; largest share error: {100 * result.max_error:.3f} points",
        "# final 2019 resident shares vs targets: "
        + ", ".join(f"{m} {result.shares[m]:.4f}/{result.targets[m]:.4f}" for m in result.shares),
        "",
        "[constants]",
        *(f"{m} = {result.constants[m]:.6f}" for m in result.shares),
        "",
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return path
