"""The lowest layer: nothing here imports from delta_utils outside core/ (paths, store, stats, plotting, sandbox,
quiet, depgraph)."""
