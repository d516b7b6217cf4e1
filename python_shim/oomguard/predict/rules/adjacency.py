"""Dense adjacencies: nonzero()/argwhere on a dense matrix (int64, nnz x ndim, with nnz
from a density estimate or bounded by the element count), torch_geometric's
to_dense_adj, scipy sparse .toarray()/.todense()/.A, networkx.to_numpy_array and
adjacency_matrix(G).todense()."""
from __future__ import annotations

from ..values import UNKNOWN, Arr, Ev, NxGraph, SparseMat
from .common import NotHandled, as_int, dtype_of, kw
from .reading import node_count
from .registry import func, method


def _nonzero(an, node, arr: Arr, inputs, as_tuple: bool, copies: int = 1) -> Ev:
    if arr.numel is None or arr.shape is None:
        raise NotHandled()
    ndim = max(1, len(arr.shape))
    if arr.density is not None:
        nnz = int(arr.numel * arr.density)
        how = f"about {arr.density:.0%} of {arr.numel:,} elements are non-zero"
    else:
        nnz = arr.numel
        how = f"at most all {arr.numel:,} elements (density unknown: this is the bound)"
    result = Arr(arr.lib, (ndim, nnz) if as_tuple else (nnz, ndim), "int64", arr.device,
                 num_nodes=arr.shape[0] if ndim == 2 else None)
    transient = (copies - 1) * (result.nbytes or 0)
    ev = an.alloc(node, result, inputs, "nonzero",
                  f"indices of the non-zeros as int64: {how}", transient=transient,
                  exact=False)
    if as_tuple:
        ev.value = tuple(result.but(shape=(nnz,)) for _ in range(ndim))
    return ev


@method("arr", "nonzero", "argwhere")
def nonzero_method(an, node, arr, args, kwargs, inputs):
    as_tuple = kw(kwargs, "as_tuple", False) is True or arr.lib == "numpy"
    return _nonzero(an, node, arr, inputs, as_tuple)


@func("torch.nonzero", "torch.argwhere", "numpy.nonzero", "numpy.argwhere",
      "numpy.flatnonzero", "numpy.where", "torch.where")
def nonzero_func(an, node, args, kwargs, inputs):
    name = getattr(node.func, "attr", getattr(node.func, "id", ""))
    if len(args) != 1 or not isinstance(args[0], Arr):
        raise NotHandled()  # where(cond, a, b) is elementwise: not handled here
    arr = args[0]
    if name == "argwhere" and arr.lib == "numpy":
        # np.argwhere = transpose(nonzero(a)): the tuple and the stacked copy coexist
        return _nonzero(an, node, arr, inputs, False, copies=2)
    if name == "flatnonzero":
        return _nonzero(an, node, arr.but(shape=(arr.numel,)) if arr.numel else arr,
                        inputs, False)
    as_tuple = name == "where" or (name == "nonzero" and arr.lib == "numpy") \
        or kw(kwargs, "as_tuple", False) is True
    return _nonzero(an, node, arr, inputs, as_tuple)


@func("torch_geometric.to_dense_adj")
def to_dense_adj(an, node, args, kwargs, inputs):
    """PyG sizes the matrix max_num_nodes, else edge_index.max() + 1 (read where it can
    be: exact; else the graph's num_nodes or a randint bound, or a variable named
    num_nodes: estimates)."""
    edge_index = args[0] if args else kw(kwargs, "edge_index")
    if not isinstance(edge_index, Arr):
        raise NotHandled()
    n = as_int(kw(kwargs, "max_num_nodes", args[3] if len(args) > 3 else None))
    source, exact = "max_num_nodes", True
    if n is None:
        n, source, exact = node_count(an, edge_index, an.snippet(node.args[0]) if node.args
                                      else "edge_index")
    if n is None:
        named = an.lookup("num_nodes")
        if as_int(named) is not None:
            n, source, exact = named, "num_nodes", False
    if n is None:
        raise NotHandled()
    edge_attr = kw(kwargs, "edge_attr", args[2] if len(args) > 2 else None)
    dtype, extra = "float32", ()
    if isinstance(edge_attr, Arr) and edge_attr.shape is not None:
        dtype, extra = edge_attr.dtype, edge_attr.shape[1:]
    result = Arr("torch", (1, n, n) + extra, dtype, edge_index.device)
    return an.alloc(node, result, inputs, "dense_adjacency",
                    f"to_dense_adj: a dense N x N adjacency (N = {n:,} from {source})",
                    exact=exact and not edge_index.estimated)


def _densify(an, node, matrix: SparseMat, inputs, what: str) -> Ev:
    if matrix.shape is None:
        raise NotHandled()
    result = Arr("numpy" if matrix.lib != "torch" else "torch", matrix.shape, matrix.dtype,
                 matrix.device,
                 density=(matrix.nnz / max(1, _product(matrix.shape)))
                 if matrix.nnz is not None else None)
    return an.alloc(node, result, inputs, "dense_adjacency", what)


@method("sparse", "toarray", "todense", "to_dense")
def sparse_dense(an, node, matrix, args, kwargs, inputs):
    return _densify(an, node, matrix, inputs,
                    f"sparse .{node.func.attr}(): every zero stored explicitly")


@func("torch.sparse_coo_tensor", "torch.sparse.FloatTensor", "torch.sparse.IntTensor",
      "torch.sparse.LongTensor", "torch.sparse.DoubleTensor")
def sparse_tensor(an, node, args, kwargs, inputs):
    """A sparse tensor from indices and values: nothing dense, and it knows its size."""
    values = args[1] if len(args) > 1 else kw(kwargs, "values")
    size = args[2] if len(args) > 2 else kw(kwargs, "size", None)
    name = getattr(node.func, "attr", "")
    dtype = {"FloatTensor": "float32", "IntTensor": "int32", "LongTensor": "int64",
             "DoubleTensor": "float64"}.get(name)
    shape = tuple(size) if isinstance(size, tuple) and all(
        as_int(d) is not None for d in size) else None
    if not isinstance(values, Arr):
        raise NotHandled()
    for ev in inputs:
        an.free(ev)  # the indices and values are kept, not copied
    return Ev(SparseMat(shape, dtype or dtype_of(kw(kwargs, "dtype"), values.dtype),
                        values.numel, lib="torch", device=values.device))


_SPARSE_FORMATS = ("csr", "csc", "coo", "lil", "dok", "bsr", "dia")


@func(*(f"scipy.{kind}_{form}" for kind in _SPARSE_FORMATS
        for form in ("matrix", "array")))
def scipy_sparse(an, node, args, kwargs, inputs):
    """A scipy.sparse matrix built from (data, indices, indptr), (data, (row, col)), an
    empty (M, N), or another sparse matrix: nothing dense, and it knows its shape."""
    source = args[0] if args else kw(kwargs, "arg1")
    shape = args[1] if len(args) > 1 else kw(kwargs, "shape", None)
    dtype = None
    nnz = None
    if isinstance(source, SparseMat):
        shape = source.shape if shape is None or shape is UNKNOWN else shape
        dtype, nnz = source.dtype, source.nnz
    elif isinstance(source, tuple) and source and isinstance(source[0], Arr) \
            and len(source) in (2, 3):
        dtype, nnz = source[0].dtype, source[0].numel
    elif isinstance(source, tuple) and len(source) == 2 and \
            all(as_int(d) is not None for d in source):
        shape, dtype, nnz = source, "float64", 0
    else:
        raise NotHandled()
    if not isinstance(shape, tuple) or len(shape) != 2 or \
            any(as_int(d) is None for d in shape):
        raise NotHandled()
    dtype = dtype_of(kw(kwargs, "dtype", None), dtype)
    for ev in inputs:
        an.free(ev)  # the arrays are kept (or small next to the shape)
    return Ev(SparseMat(tuple(as_int(d) for d in shape), dtype or "float64", nnz))


@func("scipy.identity", "scipy.eye", "scipy.eye_array", "scipy.identity_array")
def sparse_eye(an, node, args, kwargs, inputs):
    if _name(node).startswith("eye"):  # eye(m, n=None, ...)
        n = as_int(args[0]) if args else as_int(kw(kwargs, "m", None))
        m = as_int(args[1]) if len(args) > 1 else as_int(kw(kwargs, "n", n))
    else:  # identity(n, ...)
        n = as_int(args[0]) if args else as_int(kw(kwargs, "n", None))
        m = n
    if n is None or m is None:
        raise NotHandled()
    for ev in inputs:
        an.free(ev)
    return Ev(SparseMat((n, m), dtype_of(kw(kwargs, "dtype", None), "float64"), min(n, m)))


@func("scipy.diags", "scipy.diags_array", "scipy.spdiags")
def sparse_diags(an, node, args, kwargs, inputs):
    """sp.diags(vector): an N x N matrix holding the vector on its diagonal."""
    diagonal = args[0] if args else kw(kwargs, "diagonals")
    offsets = args[1] if len(args) > 1 else kw(kwargs, "offsets", 0)
    if not isinstance(diagonal, Arr) or diagonal.shape is None or \
            len(diagonal.shape) != 1 or as_int(offsets) != 0:
        raise NotHandled()
    n = diagonal.shape[0]
    for ev in inputs:
        an.free(ev)
    return Ev(SparseMat((n, n), dtype_of(kw(kwargs, "dtype", None), diagonal.dtype), n))


@method("sparse", "sum")
def sparse_sum(an, node, matrix, args, kwargs, inputs):
    """A scipy.sparse sum along an axis: a dense (N, 1) or (1, M) matrix."""
    axis = as_int(args[0]) if args else as_int(kw(kwargs, "axis", None))
    if matrix.shape is None or axis not in (0, 1, -1, -2) or matrix.lib != "scipy":
        raise NotHandled()
    shape = (1, matrix.shape[1]) if axis in (0, -2) else (matrix.shape[0], 1)
    dtype = matrix.dtype if matrix.dtype in ("float32", "float64", "complex64",
                                             "complex128") else "float64" \
        if matrix.dtype not in ("int64",) else "int64"
    return an.alloc(node, Arr("numpy", shape, dtype), inputs, "elementwise",
                    "a sparse matrix's sums")


@method("sparse", "dot", "__matmul__", "multiply")
def sparse_product(an, node, matrix, args, kwargs, inputs):
    """sparse @ sparse stays sparse (its fill unknown); sparse @ dense is dense."""
    other = args[0] if args else None
    if matrix.shape is None or len(matrix.shape) != 2 or matrix.lib != "scipy":
        raise NotHandled()
    elementwise = getattr(node.func, "attr", "") == "multiply"
    if isinstance(other, SparseMat) and other.shape is not None:
        shape = matrix.shape if elementwise else (matrix.shape[0], other.shape[-1])
        for ev in inputs:
            an.free(ev)
        return Ev(SparseMat(shape, _promote(matrix.dtype, other.dtype), None))
    if isinstance(other, Arr) and other.shape and not elementwise:
        shape = (matrix.shape[0],) + tuple(other.shape[1:])
        result = Arr("numpy", shape, _promote(matrix.dtype, other.dtype))
        return an.alloc(node, result, inputs, "pairwise",
                        "a sparse matrix times a dense one: dense")
    raise NotHandled()


def _promote(a: str, b: str) -> str:
    from ..values import promote
    return promote(a, b)


def _name(node) -> str:
    return getattr(node.func, "attr", getattr(node.func, "id", ""))


@method("sparse", "tocsr", "tocoo", "tocsc", "tolil", "astype", "copy", "transpose")
def sparse_same(an, node, matrix, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    dtype = dtype_of(args[0], matrix.dtype) if node.func.attr == "astype" and args \
        else matrix.dtype
    shape = tuple(reversed(matrix.shape)) if node.func.attr == "transpose" and matrix.shape \
        else matrix.shape
    return Ev(SparseMat(shape, dtype, matrix.nnz))


@func("networkx.to_numpy_array", "networkx.to_numpy_matrix")
def nx_dense(an, node, args, kwargs, inputs):
    graph = args[0] if args else kw(kwargs, "G")
    nodelist = kw(kwargs, "nodelist", args[1] if len(args) > 1 else None)
    n = graph.num_nodes if isinstance(graph, NxGraph) else None
    if nodelist is not None and nodelist is not UNKNOWN:
        count = getattr(nodelist, "count", None)
        n = count if isinstance(count, int) else (len(nodelist)
                                                  if isinstance(nodelist, tuple) else None)
    if n is None:
        raise NotHandled()
    dtype = dtype_of(kw(kwargs, "dtype"), "float64")
    result = Arr("numpy", (n, n), dtype)
    return an.alloc(node, result, inputs, "dense_adjacency",
                    f"networkx dense adjacency of {n:,} nodes")


@func("networkx.adjacency_matrix", "networkx.to_scipy_sparse_array",
      "networkx.to_scipy_sparse_matrix", "networkx.laplacian_matrix")
def nx_sparse(an, node, args, kwargs, inputs):
    graph = args[0] if args else kw(kwargs, "G")
    for ev in inputs:
        an.free(ev)
    if not isinstance(graph, NxGraph) or graph.num_nodes is None:
        return Ev(SparseMat(None, "int64"))
    return Ev(SparseMat((graph.num_nodes, graph.num_nodes),
                        dtype_of(kw(kwargs, "dtype"), "int64")))


@method("nx", "number_of_nodes", "order", "__len__")
def nx_nodes(an, node, graph, args, kwargs, inputs):
    for ev in inputs:
        an.free(ev)
    return Ev(graph.num_nodes if graph.num_nodes is not None else UNKNOWN)


def _product(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
