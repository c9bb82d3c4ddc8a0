"""The offline preprocessing pipeline: datasets into one chunked Zarr store each, then partial
views rendered into it.

`sources/` reads each released format (one adapter each) and registers every dataset;
`worlds/` builds and renders the procedural worlds that need no download; `store.py` is
the store's schema and the only module that knows it; `trajectories.py` and `views.py` make the
virtual cameras and what each sees; `run.py` runs both as a Dask graph; `cli.py` is `c2p-data`.
Imports go down only: the pipeline uses `kernels` and never imports torch or the trainer.
"""
