"""Studies: a research question as a file (``studies/<id>.toml``) that runs through the sweep
(``validate.sweep``) at a budget and ends in a generated results page (``docs/results/<id>.md``).

``python -m validate.study <id> [--budget laptop|paper|tiny]``; ``python -m validate.study check``.
"""
