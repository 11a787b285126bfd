"""The study: tables read from a run, the findings and diagnostics, the figures, the notebooks' worked examples.
Imports stages/ and below."""
