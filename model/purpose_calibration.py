"""Calibration of the purpose constants to the 2019 mode shares of residents' other trips.

``experiments/calibration/targets_purposes_2019.toml`` holds target shares of trips by purpose;
:func:`calibrate_purposes` steps a model through 2019 once (commuting and congestion) and then
adjusts each purpose's constants (``purposes.toml`` ``[choice.<purpose>] constants``, added to the
commute constants) until the expected shares of the trip rows meet the targets, recalibrating the
destination choice's logsum weight each time. Run it after ``vmob calibrate`` has set the commute
constants::

    python -m model.purpose_calibration [--write] [--sample-fraction 1.0] [--seed 1]

``--write`` puts the constants into ``experiments/parameters/purposes.toml`` in place.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from model.calibration import Targets
from model.files import StrictModel, load_toml_model
from model.settings import CALIBRATION_DIR, PARAMETERS_DIR
from model.trips import purpose_choice
from model.vocabulary import GENERATED_PURPOSES

DEFAULT_PURPOSE_TARGETS = CALIBRATION_DIR / "targets_purposes_2019.toml"


class PurposeTargets(StrictModel):
    """The schema of ``targets_purposes_2019.toml``: one share table per purpose, as ``targets_2019.toml``."""

    tolerance: float = Field(gt=0, le=0.05)
    shares: dict[str, dict[str, float]]
    proxy: dict[str, str] = Field(default_factory=dict)

    @field_validator("shares")
    @classmethod
    def _purposes(cls, shares: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        missing = [p for p in GENERATED_PURPOSES if p not in shares]
        unknown = sorted(set(shares) - set(GENERATED_PURPOSES))
        if missing or unknown:
            raise ValueError(f"needs exactly the purposes {', '.join(GENERATED_PURPOSES)}")
        for table in shares.values():
            Targets(tolerance=0.01, shares=table)  # the same checks as the commute targets
        return shares


@dataclass
class PurposeCalibration:
    """Outcome of :func:`calibrate_purposes`: constants and shares by purpose."""

    constants: dict[str, dict[str, float]]
    shares: dict[str, dict[str, float]]
    targets: dict[str, dict[str, float]]
    iterations: int
    max_error: float


def expected_shares(model: Any) -> dict[str, dict[str, float]]:
    """Trip-weighted expected mode shares per purpose of the model's 2019 trip rows."""
    trips = model.trip_model
    trips.step(model.start_year, model.skims, model.supply.parking_dkk_per_trip, model.weights, model.streams,
               choice_probabilities=True)
    rows = trips.rows
    weight = rows.rate * trips.persons.base_weight[rows.person]
    out = {}
    for k, purpose in enumerate(GENERATED_PURPOSES):
        P = trips.last_probabilities[k]
        w = weight[rows.purpose == k]
        shares = (P * w[:, None]).sum(axis=0) / w.sum()
        out[purpose] = dict(zip(model.params.choice.modes, shares.tolist(), strict=True))
    return out


def calibrate_purposes(model: Any, targets: PurposeTargets, max_iterations: int = 30) -> PurposeCalibration:
    """Adjust the purposes' constants (car fixed) until the expected shares meet the targets.

    ``model`` must have stepped through its first year (the congested skims of 2019).
    """
    params = model.params
    constants = {p: dict(params.purposes.choice[p].constants) for p in GENERATED_PURPOSES}
    free_flow = model._skims(model_date(model), None)
    error = np.inf
    shares: dict[str, dict[str, float]] = {}
    iterations = 0
    for _ in range(max_iterations):
        iterations += 1
        _set_constants(model, constants, free_flow)
        shares = expected_shares(model)
        error = max(abs(shares[p][m] - t) for p in GENERATED_PURPOSES for m, t in targets.shares[p].items() if t > 0)
        if error <= targets.tolerance:
            break
        for p in GENERATED_PURPOSES:
            target = targets.shares[p]
            for m, t in target.items():
                if m != "car" and t > 0 and shares[p][m] > 0:
                    constants[p][m] = constants[p].get(m, 0.0) + float(
                        np.log(t / shares[p][m]) - np.log(target["car"] / shares[p]["car"])
                    )
    for p in GENERATED_PURPOSES:
        constants[p].update({mode: constants[p][proxy] for mode, proxy in targets.proxy.items()})
    return PurposeCalibration(constants, shares, dict(targets.shares), iterations, float(error))


def model_date(model: Any) -> Any:
    """The model's reference date of its first year."""
    from model.simulation import reference_date

    return reference_date(model.start_year)


def _set_constants(model: Any, constants: dict[str, dict[str, float]], free_flow: Any) -> None:
    """Put purpose constants into the model's trip model and recalibrate its destination choice."""
    purposes = model.params.purposes.model_copy(update={
        "choice": {p: c.model_copy(update={"constants": constants[p]}) for p, c in model.params.purposes.choice.items()}
    })
    model.params = model.params.model_copy(update={"purposes": purposes})
    trips = model.trip_model
    trips.params = model.params
    trips.choice = {p: purpose_choice(model.params, p) for p in GENERATED_PURPOSES}
    trips.theta = trips._calibrate(free_flow, model.supply.parking_dkk_per_trip)


def write_purpose_constants(result: PurposeCalibration, path: str | Path | None = None) -> Path:
    """Write the constants into ``purposes.toml``'s ``constants = {...}`` line of each purpose."""
    path = Path(path or PARAMETERS_DIR / "purposes.toml")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for p, table in result.constants.items():
        line = "constants = { " + ", ".join(f"{m} = {v:.4f}" for m, v in table.items()) + " }\n"
        start = lines.index(f"[choice.{p}]\n")
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
        at = [i for i in range(start, end) if lines[i].startswith("constants =")]
        if len(at) != 1:
            raise ValueError(f"{path}: no constants line in [choice.{p}]")
        lines[at[0]] = line
    text = "".join(lines)
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    """Calibrate the purpose constants and print (or write) them."""
    from model.simulation import MobilityModel, ModelContext

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the constants into purposes.toml")
    parser.add_argument("--sample-fraction", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    targets = load_toml_model(PurposeTargets, DEFAULT_PURPOSE_TARGETS)
    model = MobilityModel(ModelContext.load(), rng=args.seed, end_year=2019, sample_fraction=args.sample_fraction, create_agents=False)
    model.step()
    result = calibrate_purposes(model, targets)
    print(f"iterations {result.iterations}, largest share error {result.max_error:.4f}")
    for p in GENERATED_PURPOSES:
        shares = ", ".join(f"{m} {result.shares[p][m]:.3f}/{result.targets[p][m]:.3f}" for m in result.shares[p])
        print(f"{p}: {shares}")
        print(f"  constants {result.constants[p]}")
    if args.write:
        print(f"written: {write_purpose_constants(result)}")


if __name__ == "__main__":
    main()
