"""Peak-hour car assignment: all-or-nothing loads, BPR link times, MSA averaging.

The simulation runs the method of successive averages with the mode choice in
the loop (:meth:`model.simulation.MobilityModel.step`); this module holds the
pieces: all-or-nothing loading, BPR link times and the relative gap. Cars are
routed in classes (:class:`model.skims.CarRouteClasses`) on generalised cost,
time + km × the class's seconds per km, and the gap is measured on that cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.edges import EdgeArrays
from model.skims import CarRouteClasses, CarTrees, car_trees, tree_edges

#: Tree entries (origins × nodes × OD layers) accumulated at once; bounds the loading's memory
#: (about 40 bytes per entry) whatever the number of zones.
CHUNK_ENTRIES = 2**22


def bpr_time_s(
    edges: EdgeArrays, volume_vph: np.ndarray, alpha: float, beta: float, congestible: np.ndarray | None = None,
) -> np.ndarray:
    """Congested time per edge: ``t0 · (1 + alpha · (V / C) ** beta)``; free-flow time where ``congestible`` is False."""
    capacity = np.where(edges.capacity_vph > 0, edges.capacity_vph, np.inf)
    time_s = edges.free_flow_time_s * (1.0 + alpha * (volume_vph / capacity) ** beta)
    return time_s if congestible is None else np.where(congestible, time_s, edges.free_flow_time_s)


def all_or_nothing(
    trees: list[CarTrees], od_vph: np.ndarray, n_edges: int, weights: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Load each demand layer's OD matrix on the least-cost paths of its trees.

    Parameters
    ----------
    trees
        One :class:`~model.skims.CarTrees` per layer (e.g. per route class, :func:`model.skims.car_route_trees`);
        layers that share a trees object are loaded in one pass.
    od_vph
        ``zones × zones × layers`` demand (vehicles per hour).
    n_edges
        Number of edges in the network's :class:`~model.edges.EdgeArrays`.
    weights
        Per layer, the weight of a vehicle in ``shortest_total`` (passenger-car equivalents); 1 if omitted.

    Returns
    -------
    volume
        Auxiliary edge volumes per layer, ``n_edges × layers`` (vehicles per hour).
    shortest_total
        Σ weight × demand × least generalised cost over all layers, for the relative gap.
    """
    volume = np.zeros((n_edges, od_vph.shape[2]))
    for tree in {id(t): t for t in trees}.values():
        layers = [layer for layer, t in enumerate(trees) if t is tree]
        volume[:, layers] = tree_loads(tree, od_vph[..., layers], n_edges)
    weight = np.ones(len(trees)) if weights is None else weights
    shortest = 0.0
    for layer, tree in enumerate(trees):
        reached = np.isfinite(tree.generalised_s)
        shortest += float(weight[layer] * (od_vph[..., layer][reached] @ tree.generalised_s[reached]))
    return volume, shortest


def link_costs_s(edges: EdgeArrays, time_s: np.ndarray, seconds_per_km: tuple[float, ...]) -> np.ndarray:
    """Generalised seconds of every edge for every route class, ``n_edges × classes``: time + km × seconds per km."""
    return time_s[:, None] + (edges.length_m / 1000.0)[:, None] * np.asarray(seconds_per_km)[None, :]


def class_loads(
    edges: EdgeArrays, time_s: np.ndarray, zone_nodes: np.ndarray, routes: CarRouteClasses, od: np.ndarray,
    layer_class: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """Edge volumes of demand layers, each loaded on the least-cost paths of its route class.

    Parameters
    ----------
    edges, time_s, zone_nodes
        Network, edge times (s) and zone nodes the paths are found on.
    routes
        The route classes.
    od
        ``zones × zones × layers`` demand.
    layer_class
        Route class index of each layer.

    Returns
    -------
    numpy.ndarray
        ``n_edges × layers`` volumes, in the units of ``od``.
    """
    volume = np.zeros((len(edges.u), od.shape[2]))
    for c, seconds in enumerate(routes.seconds_per_km):
        layers = np.flatnonzero(np.asarray(layer_class) == c)
        if len(layers):
            volume[:, layers] = tree_loads(car_trees(edges, time_s, zone_nodes, seconds), od[..., layers], len(edges.u))
    return volume


def tree_loads(trees: CarTrees, od: np.ndarray, n_edges: int) -> np.ndarray:
    """Edge volumes of OD matrices loaded on the least-cost paths of ``trees``.

    Each origin's demand is put on its destinations' nodes and accumulated up the
    origin's shortest-path tree: the load on the tree edge into a node is the demand of
    the node and all its descendants (:func:`_accumulate`). Memory is O(origins × nodes),
    never O(pairs × path length); origins are taken in chunks of :data:`CHUNK_ENTRIES`.

    Parameters
    ----------
    trees
        Least-cost paths of one route class from every zone node.
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


def relative_gap(cost_s: np.ndarray, volume: np.ndarray, shortest_total: float) -> float:
    """``|Σ g·V − Σ d·g_sp| / Σ g·V`` on generalised cost, over the assigned layers (a fixed preload excluded).

    ``cost_s`` and ``volume`` are ``n_edges × layers`` (:func:`link_costs_s`, weighted as the
    ``shortest_total`` of :func:`all_or_nothing` is), or one column each for a single layer. In
    absolute value: with the mode choice and elastic demand in the loop ``V`` mixes earlier
    iterations' demand, and a gap clipped at zero could end the loop on a mismatch.
    """
    total = float(np.sum(cost_s * volume))
    return abs(total - shortest_total) / total if total > 0 else 0.0
