"""Peak-hour car assignment: all-or-nothing loads, BPR link times, MSA averaging.

The simulation runs the method of successive averages with the mode choice in
the loop (:meth:`model.simulation.MobilityModel.step`); this module holds the
pieces: all-or-nothing loading, BPR link times and the relative gap.
"""

from __future__ import annotations

import numpy as np

from model.edges import EdgeArrays
from model.skims import CarTrees, tree_edges

#: Tree entries (origins × nodes × OD layers) accumulated at once; bounds the loading's memory
#: (about 40 bytes per entry) whatever the number of zones.
CHUNK_ENTRIES = 2**22


def bpr_time_s(edges: EdgeArrays, volume_vph: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Congested time per edge: ``t0 · (1 + alpha · (V / C) ** beta)``."""
    capacity = np.where(edges.capacity_vph > 0, edges.capacity_vph, np.inf)
    return edges.free_flow_time_s * (1.0 + alpha * (volume_vph / capacity) ** beta)


def all_or_nothing(trees: CarTrees, od_vph: np.ndarray, n_edges: int) -> tuple[np.ndarray, float]:
    """Load an OD matrix on the fastest paths of ``trees``.

    Returns
    -------
    volume
        Auxiliary edge volumes (vehicles per hour).
    shortest_total
        Σ demand × shortest-path time (vehicle-seconds), for the relative gap.
    """
    flat = od_vph.ravel()
    return tree_loads(trees, od_vph, n_edges), float(flat @ trees.time_s.ravel())


def tree_loads(trees: CarTrees, od: np.ndarray, n_edges: int) -> np.ndarray:
    """Edge volumes of OD matrices loaded on the fastest paths of ``trees``.

    Each origin's demand is put on its destinations' nodes and accumulated up the
    origin's shortest-path tree: the load on the tree edge into a node is the demand of
    the node and all its descendants (:func:`_accumulate`). Memory is O(origins × nodes),
    never O(pairs × path length); origins are taken in chunks of :data:`CHUNK_ENTRIES`.

    Parameters
    ----------
    trees
        Fastest paths from every zone node.
    od
        ``zones × zones`` demand, or ``zones × zones × layers`` for several demand
        layers at once (e.g. vehicle groups). Unreachable pairs and a zone to itself
        load nothing.
    n_edges
        Number of edges in the network's :class:`~model.edges.EdgeArrays`.

    Returns
    -------
    numpy.ndarray
        ``n_edges`` volumes, or ``n_edges × layers``, in the units of ``od``.
    """
    nz = len(trees.zone_nodes)
    layers = od.reshape(nz, nz, -1)
    n_layers = layers.shape[2]
    if trees.tree_edge is None:
        trees.tree_edge = tree_edges(trees.pred, trees.index)
    demand = np.where(np.isfinite(trees.time_s)[..., None], layers, 0.0)
    n_nodes = trees.pred.shape[1]
    chunk = max(1, CHUNK_ENTRIES // (n_nodes * n_layers))
    volume = np.zeros((n_edges, n_layers))
    for start in range(0, nz, chunk):
        rows = slice(start, start + chunk)
        edge, flow = _accumulate(trees.pred[rows], trees.tree_edge[rows], trees.zone_nodes, demand[rows])
        position = trees.positions[edge]
        for layer in range(n_layers):
            volume[:, layer] += np.bincount(position, weights=flow[layer], minlength=n_edges)
    return volume if od.ndim == 3 else volume[:, 0]


def _accumulate(
    pred: np.ndarray, tree_edge: np.ndarray, zone_nodes: np.ndarray, demand: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flow on every tree edge of a block of trees: ``(tree edge, layers × flows)`` per reached node.

    The flow into a node is the demand of all its descendants, itself included. It is
    gathered by pointer jumping, the mirror image of :func:`model.skims.path_sums`: after
    step k every node holds the demand of its descendants less than 2**k edges below it,
    and each step adds what the nodes exactly 2**k edges below hand up (one ``bincount``
    per layer over all trees at once), so ``log2(depth)`` steps cover every tree.
    """
    trees, n = pred.shape
    size = trees * n
    offset = (np.arange(trees) * n)[:, None]
    has_parent = (pred >= 0).ravel()
    above = np.where(pred >= 0, pred + offset, 0).ravel()  # the ancestor 2**k edges up, where there is one
    reaching = has_parent.copy()
    destination = (offset + zone_nodes[None, :]).ravel()
    flow = np.array([np.bincount(destination, weights=demand[..., layer].ravel(), minlength=size)
                     for layer in range(demand.shape[2])])
    below = np.flatnonzero(reaching)
    while len(below):
        target = above[below]
        flow += np.array([np.bincount(target, weights=flow[layer, below], minlength=size) for layer in range(len(flow))])
        above[below] = above[target]
        reaching[below] = reaching[target]
        below = below[reaching[below]]
    entries = np.flatnonzero(has_parent)
    return tree_edge.ravel()[entries], flow[:, entries]


def relative_gap(time_s: np.ndarray, agent_volume: np.ndarray, shortest_total: float) -> float:
    """``(Σ t·V − Σ d·t_sp) / Σ t·V`` over the agents' own volumes (background flow excluded)."""
    total = float(time_s @ agent_volume)
    return max(total - shortest_total, 0.0) / total if total > 0 else 0.0
