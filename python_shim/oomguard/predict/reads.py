"""Data-dependent sizes that are cheap to read: the largest value of an index array.

`to_dense_adj(edge_index)` without num_nodes sizes its matrix from edge_index.max() + 1,
which no shape says. Where the answer decides a crash, the predictor reads it, under
strict conditions: the object is exactly a `torch.Tensor` (no subclass: no
`__torch_function__`) on the CPU (a CUDA read would synchronise, or initialise CUDA), or
exactly a `numpy.ndarray`; of an integer dtype; with at most MAX_ELEMENTS elements; and
only when the read fits what is left of the time budget at the throughput measured so
far. Tensors are read with torch's C-level reduction under DisableTorchFunction. An answer
is kept per buffer (and, for a tensor, its version counter, which every in-place change
bumps), so predicting the same cell again reads nothing."""
from __future__ import annotations

import sys
import time
from collections import OrderedDict
from typing import Any, Optional

MAX_ELEMENTS = 100_000_000
NS_PER_ELEMENT = 1.0       # a cautious start; refined by every read (2-core machine: ~0.5-1)
CACHE_SIZE = 64
INTEGER = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


class MaxReader:
    """Per process: what was read, and how fast reads go."""

    def __init__(self):
        self.ns_per_element = NS_PER_ELEMENT
        self._cache: "OrderedDict[tuple, int]" = OrderedDict()

    def readable(self, numel: int, dtype: str) -> bool:
        return 0 < numel <= MAX_ELEMENTS and dtype in INTEGER

    def tensor_max(self, kit, tensor: Any, numel: int, budget) -> Optional[int]:
        torch = sys.modules.get("torch")
        if torch is None or type(tensor) is not torch.Tensor:
            return None
        try:
            base = torch._C.TensorBase.__dict__  # C-level: an instance attribute never runs
            with kit.plain():
                if kit.device(tensor).type != "cpu" or kit.layout(tensor) is not kit.strided \
                        or kit.is_meta(tensor) or kit.is_nested(tensor):
                    return None
                key = ("torch", kit.untyped_storage(tensor).data_ptr(),
                       base["storage_offset"](tensor), tuple(base["stride"](tensor)),
                       tuple(kit.shape(tensor)), kit.dtype_name(kit.dtype(tensor)),
                       base["_version"].__get__(tensor))
                return self._read(key, numel, budget,
                                  lambda: int(base["item"](torch.amax(tensor))))
        except Exception:
            return None

    def array_max(self, kit, array: Any, numel: int, budget) -> Optional[int]:
        numpy = sys.modules.get("numpy")
        if numpy is None or type(array) is not numpy.ndarray:
            return None
        try:
            interface = kit.interface(array)
            key = ("numpy", interface["data"][0], interface.get("strides"),
                   interface["shape"], interface["typestr"])
            # no version counter: a cached answer is reused only while the array is
            # read-only (otherwise read again)
            writeable = bool(numpy.ndarray.__dict__["flags"].__get__(array).writeable)
            if writeable:
                self._cache.pop(key, None)
            return self._read(key, numel, budget,
                              lambda: int(numpy.ndarray.max(array)))
        except Exception:
            return None

    def _read(self, key, numel: int, budget, read) -> Optional[int]:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if numel * self.ns_per_element * 1e-9 > budget.left():
            return None  # would not fit in what is left of the budget
        started = time.perf_counter()
        value = read()
        took = time.perf_counter() - started
        self.ns_per_element = max(0.1, 0.5 * self.ns_per_element + 0.5 * took * 1e9 / numel)
        self._cache[key] = value
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return value


READER = MaxReader()
