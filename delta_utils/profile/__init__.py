"""The profile (config.py) and a run's folders, manifests and caches (rundir.py). Imports the layers below."""
