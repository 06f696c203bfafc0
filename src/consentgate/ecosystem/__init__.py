"""What the ML and data ecosystem reads about a dataset: Croissant, a dataset card,
OpenLineage events and the EU AI Act training-content summary (docs/ecosystem.md).

Every document here is derived from a dataset's ``manifest.json`` (and the Arrow schema
of its parts) by pure functions; only ``lineage.emit`` talks to the outside, and only
when configured.
"""
