"""Memory of the compute clusters a notebook drives (a Dask cluster whose Client is in
the namespace), per cell: watch.py samples, engines measure, records carry `cluster`."""
from .watch import ClusterWatch

__all__ = ["ClusterWatch"]
