"""Running and checking: the headless pipeline and its plan, `make check`'s budgets and estimates, lm-eval, Hub export.
The top layer."""
