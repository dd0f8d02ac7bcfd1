"""The evaluation protocol: strategies measured against full information over seeds (`compare`), its
per-run figures, their bootstrap statistics, tables and plots; a library that benchmarks call too."""
