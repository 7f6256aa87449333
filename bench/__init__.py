"""jsbus benchmarks: ``python -m bench`` runs them all and writes ``bench/results/report.md``
and ``report.json`` (see ``bench/README.md`` and the convention in ``bench/report.py``)."""
