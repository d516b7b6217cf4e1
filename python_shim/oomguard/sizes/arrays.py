"""Sizes of numpy arrays, scipy.sparse matrices and pandas objects.

Each is used only when the user has imported that library. A numpy array counts the
buffer that owns its memory: `.base` is followed to the owner, whose start address is
the key that deduplicates views (and `torch.from_numpy` / `.numpy()` twins, which share
the address). Attributes are read through numpy's own C-level descriptors, so an
ndarray subclass's Python properties never run."""
from __future__ import annotations

import sys
from typing import Any, Optional

from .safe import instance_dict, is_sub, module_attr, type_name
from .tally import ScanState, Tally

MAX_BASE_HOPS = 64


class NumpyKit:
    def __init__(self, numpy: Any):
        descriptors = numpy.ndarray.__dict__
        self.ndarray = numpy.ndarray
        self.base = descriptors["base"].__get__
        self.nbytes = descriptors["nbytes"].__get__
        self.shape = descriptors["shape"].__get__
        self.dtype = descriptors["dtype"].__get__
        self.interface = descriptors["__array_interface__"].__get__
        self._dtype_names: dict = {}  # id(dtype) -> str; str() of a dtype is slow
        self._pinned: list = []

    def dtype_name(self, dtype: Any) -> str:
        name = self._dtype_names.get(id(dtype))
        if name is None:
            name = self._dtype_names[id(dtype)] = str(dtype)
            self._pinned.append(dtype)
        return name

    @staticmethod
    def load() -> Optional["NumpyKit"]:
        numpy = sys.modules.get("numpy")
        if numpy is None:
            return None
        try:
            return NumpyKit(numpy)
        except Exception:
            return None


def array_owner(kit: NumpyKit, array: Any):
    """(the last ndarray on the .base chain, whatever that one's base is or None)."""
    owner, base = array, kit.base(array)
    for _ in range(MAX_BASE_HOPS):
        if base is None or not is_sub(type(base), kit.ndarray):
            break
        owner, base = base, kit.base(base)
    return owner, base


def measure_ndarray(kit: NumpyKit, array: Any, state: ScanState, tally: Tally,
                    tensor_measurer=None) -> None:
    try:
        owner, foreign = array_owner(kit, array)
        dtype = kit.dtype(array)
        tally.add_dtype(kit.dtype_name(dtype))
        if dtype.hasobject:
            tally.note("It holds Python objects: only the pointers to them are counted.")
        if foreign is not None and tensor_measurer is not None \
                and tensor_measurer(foreign, state, tally):
            return  # a tensor.numpy() view: the tensor's storage is what is held
        nbytes = kit.nbytes(owner)
        if nbytes:
            address = kit.interface(owner)["data"][0]
            nbytes = state.claim(tally, ("cpu", None, address), nbytes)
        tally.add_buffer(nbytes, "cpu")
        if foreign is not None:
            kind = type_name(type(foreign))
            if kind == "mmap.mmap":
                tally.note("Memory-mapped from a file: pages count against RAM only "
                           "once they are read.")
            else:
                tally.note(f"Its memory belongs to a {kind} object; counted as the "
                           "array's own size.")
    except Exception as exc:
        tally.unmeasured = True
        tally.note(f"An array's size could not be read ({type_name(type(exc))}).")


def describe_ndarray(kit: NumpyKit, array: Any) -> tuple:
    return list(kit.shape(array)), kit.dtype_name(kit.dtype(array)), "cpu"


def is_array_view(kit: NumpyKit, array: Any) -> bool:
    try:
        return kit.base(array) is not None
    except Exception:
        return False


# --- scipy.sparse -----------------------------------------------------------------

def scipy_sparse_base() -> Optional[type]:
    return (module_attr("scipy.sparse._base", "_spbase")
            or module_attr("scipy.sparse.base", "spmatrix"))


def scipy_children(matrix: Any, ndarray: type) -> list:
    """The arrays a sparse matrix keeps (csr/csc/bsr: data, indices, indptr; coo: data
    and coords/row/col; dia: data, offsets; lil: two object arrays of lists, whose
    lists are not walked) and a dok's entries."""
    children = []
    for value in (instance_dict(matrix) or {}).values():
        kind = type(value)
        if kind is tuple:  # coo's coords
            children.extend(item for item in value if is_sub(type(item), ndarray))
        elif kind is dict:  # dok (older scipy)
            children.append(value)
        elif is_sub(kind, ndarray):
            children.append(value)
    if is_sub(type(matrix), dict):  # dok (newer scipy) is a dict itself
        children.extend(dict.items(matrix))
    return children


def describe_scipy(kit: Optional[NumpyKit], matrix: Any) -> tuple:
    attributes = instance_dict(matrix) or {}
    shape, dtype = attributes.get("_shape"), None
    if type(shape) is not tuple or not all(type(n) is int for n in shape):
        shape = None
    data = attributes.get("data")
    if kit is not None and is_sub(type(data), kit.ndarray):
        dtype = kit.dtype_name(kit.dtype(data))
    return (list(shape) if shape is not None else None), dtype, "cpu"


# --- pandas -----------------------------------------------------------------------

def pandas_classes() -> tuple:
    return (module_attr("pandas.core.generic", "NDFrame"),
            module_attr("pandas.core.indexes.base", "Index"))


def _frame_manager(frame: Any) -> Any:
    return (instance_dict(frame) or {}).get("_mgr")


def measure_pandas(frame: Any, state: ScanState, tally: Tally, children: list) -> None:
    """Column buffers (one per block: pandas keeps same-dtype columns in one 2-D array)
    and the row and column labels, like memory_usage(deep=False). Objects in object or
    python-string columns are not walked. At most max_columns blocks are read."""
    manager = _frame_manager(frame)
    if manager is None:
        tally.unmeasured = True
        tally.note("This pandas object's data could not be found (an unknown pandas "
                   "version?).")
        return
    try:
        blocks = manager.blocks
        for count, block in enumerate(blocks):
            if count >= state.max_columns:
                tally.truncated = True
                tally.note(f"Only the first {state.max_columns} column blocks were "
                           "counted.")
                break
            children.append(block.values)
        children.extend(manager.axes)
    except Exception as exc:
        tally.unmeasured = True
        tally.note(f"This pandas object's columns could not be read "
                   f"({type_name(type(exc))}).")


def extension_array_children(array: Any, ndarray: type, tally: Tally) -> list:
    """The numpy arrays inside a pandas ExtensionArray or Index (`_ndarray` of
    string / datetime / categorical arrays, `_data` and `_mask` of nullable ones, an
    Index's `_data`); pandas' own `nbytes` where there are none (arrow-backed, ranges).
    Only pandas' own types are asked anything beyond their instance dict."""
    children = [value for value in (instance_dict(array) or {}).values()
                if is_sub(type(value), ndarray)]
    if children:
        return children
    kind = type_name(type(array))
    if not kind.startswith("pandas."):
        tally.unmeasured = True
        tally.note(f"A column of type {kind} was not measured.")
        return []
    try:
        backing = array._ndarray  # a C attribute of pandas' NDArrayBacked arrays
        if is_sub(type(backing), ndarray):
            return [backing]
    except Exception:
        pass
    try:
        nbytes = array.nbytes  # pandas' own code, deep=False semantics
        if type(nbytes) is int:
            tally.add_buffer(nbytes, "cpu")
            return []
    except Exception:
        pass
    tally.unmeasured = True
    tally.note(f"A column of type {kind} was not measured.")
    return []


def describe_pandas(frame: Any) -> tuple:
    manager = _frame_manager(frame)
    shape = [int(len(axis)) for axis in reversed(manager.axes)]
    blocks = manager.blocks
    dtype = str(blocks[0].dtype) if len(shape) == 1 and len(blocks) == 1 else None
    return shape, dtype, "cpu"
