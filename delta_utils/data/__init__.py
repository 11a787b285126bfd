"""Tasks, benchmarks and checking; the rubric, preference-set names, verifier, decontamination and trace format.
Imports core/ only."""
