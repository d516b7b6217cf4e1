"""Composite library functions (PyG utilities, scipy graph algorithms, LAPACK through
NumPy/SciPy, ...): sized by their formulas in predict/formulas.py."""
from __future__ import annotations

from .. import formulas
from ..values import Arr, Ev
from .common import NotHandled
from .reading import read_max
from .registry import FUNCS


def _handler(formula: formulas.Formula):
    def apply(an, node, args, kwargs, inputs):
        texts = {id(v): an.snippet(n) for v, n in zip(args, node.args)}
        texts.update({id(ev.value): an.snippet(k.value) for k in node.keywords
                      for name, ev in kwargs.items() if k.arg == name})
        outcome = formulas.evaluate(
            formula, args, {key: ev.value for key, ev in kwargs.items()},
            lambda arr: read_max(an, arr, texts.get(id(arr), "the index")))
        if outcome is None:
            raise NotHandled()
        if not outcome.results:  # only a view of an input (np.diag of a matrix)
            if outcome.value is None:
                raise NotHandled()
            return Ev(outcome.value, an.merge_temps(inputs))
        arrays = [arr for _, arr in outcome.results]
        biggest = max(arrays, key=lambda a: a.nbytes or 0)
        what = outcome.what + "".join(f", sized from {note}" for note in outcome.notes)
        ev = an.alloc(node, biggest if len(arrays) == 1 else biggest.but(role="bytes"),
                      inputs, formula.kind, what, nbytes=outcome.nbytes,
                      transient=outcome.peak - outcome.nbytes, exact=outcome.exact)
        ev.value = outcome.value
        return ev
    return apply


def register() -> None:
    for formula in formulas.TABLE:
        handler = _handler(formula)
        for path in (formula.path,) + formula.also:
            for key in formulas.keys_of(path):
                FUNCS.setdefault(key, handler)


register()
__all__ = ["Arr"]
