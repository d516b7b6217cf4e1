"""The cluster engines the watch knows, in the order it looks for their clients. Each is
a module with
- NAME, and MODULE: the module whose presence in sys.modules says the user imported the
  engine (nothing here imports one);
- find([(name, value)]) -> [(name, client)] over the namespace's items,
  clients_exist() -> bool, False only where no client can be in any namespace (so that
  a cell's start skips looking), and Source(name, client, on_event) that samples it
  (see dask_engine.py); an engine whose memory is not sampled has none of them
  (ray_engine.py);
- cell_error(error) -> WorkerEvent or None: the worker or task the cell's exception says
  the cluster killed, and UNSAMPLED, the note for a record made from that alone."""
from . import dask_engine, ray_engine

ENGINES = (dask_engine, ray_engine)
