"""What to do instead, per kind of finding: concrete, in the user's vocabulary.

Advice about the element type fits the finding's own dtype: a "<<...{dtype}...>>" part of
a text is kept, with {dtype} filled from SMALLER (float32 or float16 for a float64
result; float16 or bfloat16 for float32), only where something smaller fits; for what is
already small (float16, integers) or unknown it goes. Never "use float32" for a float32
tensor."""
from __future__ import annotations

import re
from typing import Optional

SUGGESTIONS = {
    "dense_constructor": "Allocate less: a smaller size<<, {dtype}>>, or build it in chunks. "
    "For a graph keep a sparse edge_index (2 x E int64) instead of a dense N x N matrix.",
    "dense_adjacency": "Keep the graph sparse: an edge_index (scipy's .tocoo() row/col, "
    "torch_geometric.utils.from_scipy_sparse_matrix or from_networkx) costs 16 bytes per "
    "edge instead of N x N elements.",
    "nonzero": "Build edge_index from the sparse structure (scipy .tocoo() row/col, "
    "torch_geometric.utils.dense_to_sparse on row blocks) instead of nonzero() on a "
    "dense matrix, or process it in row chunks.",
    "pairwise": "Compute it in row chunks (e.g. torch.cdist(x[i:i+b], x) per block) and "
    "keep only what you need (top-k, or a kNN/radius graph as a sparse edge_index)"
    "<<; use {dtype}>>.",
    "elementwise": "Work in chunks or in place (x.add_(...), out=...) so no full-size "
    "temporary is made<<; use {dtype}>>.",
    "dtype_copy": "Create it with the dtype you need (dtype= in the constructor) so the "
    "original and the converted copy are never alive together<<; prefer {dtype}>>.",
    "device_copy": "Move mini-batches to the GPU inside the training loop instead of "
    "the whole data set<<, use {dtype}>>, and del the CPU copy you no longer need.",
    "copy": "torch.from_numpy(array) shares the array's memory instead of copying it "
    "(torch.tensor always copies).",
    "concat": "Preallocate the result and fill it in place, or process the parts one at "
    "a time instead of concatenating them all.",
    "repeat": "Use .expand(...) (a free view) and broadcasting instead of "
    ".repeat / .contiguous().",
    "clone": "Skip the copy if you do not modify it (.detach() shares memory), or del "
    "the original.",
    "batch_copy": "Iterate mini-batches instead: torch_geometric.loader.DataLoader"
    "(graphs, batch_size=64, shuffle=True); Batch.from_data_list copies every graph.",
    "full_batch_loader": "Use a batch size that fits (e.g. 32-256 graphs) and iterate: "
    "DataLoader(dataset, batch_size=64, shuffle=True).",
    "loader_batch": "Use a smaller batch_size.",
    "message_passing": "Train on sampled subgraphs: NeighborLoader(data, num_neighbors="
    "[15, 10], batch_size=1024, input_nodes=train_mask); or a smaller hidden size"
    "<<, or {dtype}>>.",
    "list_of_arrays": "Process the items one at a time, keep only reduced results "
    "(.item(), .detach().cpu()), or write them to disk.",
    "gather": "Index in chunks, or use a view (slicing) instead of advanced indexing.",
}


# A smaller element type, by the finding's dtype; absent: nothing smaller to suggest.
SMALLER = {
    "float64": "float32 or float16 instead of float64",
    "float32": "float16 or bfloat16 instead of float32 where precision allows",
    "complex128": "complex64 instead of complex128",
}
_DTYPE_PART = re.compile(r"<<(.*?)>>")


def suggestion_for(kind: str, dtype: Optional[str] = None) -> str:
    text = SUGGESTIONS.get(kind, "Process the data in smaller chunks.")
    smaller = SMALLER.get(dtype) if isinstance(dtype, str) else None
    return _DTYPE_PART.sub(
        lambda part: part.group(1).replace("{dtype}", smaller) if smaller else "", text)
