"""The cluster engines the watch knows, in the order it looks for their clients. Each is
a module with NAME, MODULE (the module whose presence in sys.modules says the user
imported the engine), find([(name, value)]) -> [(name, client)] over the namespace's
items, and Source(name, client, on_event) (see dask_engine.py)."""
from . import dask_engine

ENGINES = (dask_engine,)
