"""Scenario files: reading and checking them (spec), building their data from a built-in source (build)
with its perturbations (perturb), and the built-in data sources (sources)."""
