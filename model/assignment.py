"""Peak-hour car assignment: all-or-nothing loads, BPR link times, MSA averaging.

The simulation runs the method of successive averages with the mode choice in
the loop (:meth:`model.simulation.MobilityModel.step`); this module holds the
pieces: all-or-nothing loading, BPR link times and the relative gap.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from model.edges import EdgeArrays
from model.skims import CarTrees


def bpr_time_s(edges: EdgeArrays, volume_vph: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Congested time per edge: ``t0 · (1 + alpha · (V / C) ** beta)``."""
    capacity = np.where(edges.capacity_vph > 0, edges.capacity_vph, np.inf)
    return edges.free_flow_time_s * (1.0 + alpha * (volume_vph / capacity) ** beta)


def all_or_nothing(trees: CarTrees, od_vph: np.ndarray, n_edges: int) -> tuple[np.ndarray, sp.csr_matrix, float]:
    """Load an OD matrix on the fastest paths of ``trees``.

    Returns
    -------
    volume
        Auxiliary edge volumes (vehicles per hour).
    incidence
        Edge × OD path incidence used.
    shortest_total
        Σ demand × shortest-path time (vehicle-seconds), for the relative gap.
    """
    rows, cols = trees.path_entries()
    n_pairs = len(trees.zone_nodes) ** 2
    incidence = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_edges, n_pairs))
    flat = od_vph.ravel()
    return incidence @ flat, incidence, float(flat @ trees.time_s.ravel())


def relative_gap(time_s: np.ndarray, agent_volume: np.ndarray, shortest_total: float) -> float:
    """``(Σ t·V − Σ d·t_sp) / Σ t·V`` over the agents' own volumes (background flow excluded)."""
    total = float(time_s @ agent_volume)
    return max(total - shortest_total, 0.0) / total if total > 0 else 0.0
