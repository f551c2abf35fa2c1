"""Vallensbæk mobility model: commuter agents, mode choice, congestion and transport CO2.

The package is organised one module per concern; ``docs/architecture.md`` maps
the data flow from experiment file to output tables.
"""

__version__ = "0.1.0"
