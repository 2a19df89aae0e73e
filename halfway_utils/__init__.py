"""halfway: the package behind the notebooks. Data flows one way:

- ``data``, ``models``, ``zoo``, ``train``: the data sets and the cached model zoo every
  experiment shares;
- ``methods/``: reusable algorithms (boundary search along segments, convex-hull distance,
  the SOM, attacks, nearest neighbours), each tested against a reference and benchmarked;
- ``experiments/``: one module per notebook, with its measurements and its claims' rules;
  the notebook's cells call these functions and draw;
- ``evidence/``: intervals (``stats``), the claims ledger (``claims``) and the report;
- ``infra/``: where files go (``paths``), devices, the atomic store and cache, notebook
  parameters, the figure style and the papermill runner.
"""
