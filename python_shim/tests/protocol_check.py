"""Every message the shim builds, checked against schema/protocol.json as sent.

conftest.py wraps the message builders of `oomguard.protocol` for the whole session and
kernel_session.py hands over every comm message a real kernel sends; each test ends by
checking what arrived during it (`check_pending`). A message must validate, with the
real `jsonschema` library, against its type's definition made strict:

- closed: no field the schema does not name (`unevaluatedProperties: false` on every
  object definition), so a field the shim starts to send is documented first;
- and read by the shim's own schema reader (oomguard.schemas) without a single repair,
  so the reader and the validator agree on what valid means.

The counts are printed at the end of the session."""
from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from typing import Any, Dict, List, Tuple

from jsonschema import Draft202012Validator

from oomguard import schemas

_lock = threading.Lock()
_pending: List[Tuple[str, Any]] = []
checked: Counter = Counter()  # by source ("builder", "kernel") and type


def capture(source: str, message: Any) -> None:
    """Keep a message to check at the end of the running test (any thread): a copy, as
    it is now (a caller may take a built message apart, as the spool's answer does)."""
    try:
        message = copy.deepcopy(message)
    except Exception as exc:  # not plain data: it cannot have been sent as it is
        message = {"not copyable": repr(exc)}
    with _lock:
        _pending.append((source, message))


def take_pending() -> List[Tuple[str, Any]]:
    with _lock:
        taken = list(_pending)
        _pending.clear()
    return taken


def _closed(root: dict) -> dict:
    """The schema with every object of named fields closed to other fields. A definition
    that merges another through `$ref` beside its own properties (a mixin) gets that
    one's properties inlined, so that closing it sees them all."""
    root = copy.deepcopy(root)
    defs = root["$defs"]

    def target(ref: str) -> dict:
        return defs[ref.rsplit("/", 1)[1]]

    def flatten(node: dict) -> dict:
        ref = node.get("$ref")
        if isinstance(ref, str) and "properties" in node:
            base = flatten(target(ref))
            node = {k: v for k, v in node.items() if k != "$ref"}
            node["type"] = base.get("type", "object")
            node["properties"] = {**base.get("properties", {}), **node["properties"]}
            node["required"] = [*base.get("required", []), *node.get("required", [])]
        return node

    def close(node: Any) -> Any:
        if isinstance(node, list):
            return [close(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: close(value) for key, value in flatten(node).items()}
        if "properties" in node and "additionalProperties" not in node:
            node["unevaluatedProperties"] = False
        return node

    root["$defs"] = {name: close(node) for name, node in defs.items()}
    return root


class ProtocolCheck:
    def __init__(self):
        self.root = schemas.protocol()
        self.strict = _closed(self.root)
        Draft202012Validator.check_schema(self.root)
        self.reader = schemas.SchemaReader(self.root)
        self.by_type = {}
        for ref in self.root["$defs"]["kernelMessage"]["oneOf"]:
            name = ref["$ref"].rsplit("/", 1)[1]
            kind = self.reader.definition(name)["properties"]["type"]["const"]
            self.by_type[kind] = name
        self._validators: Dict[str, Draft202012Validator] = {}

    def validator(self, name: str) -> Draft202012Validator:
        if name not in self._validators:
            schema = {key: value for key, value in self.strict.items() if key != "anyOf"}
            schema["$ref"] = f"#/$defs/{name}"
            self._validators[name] = Draft202012Validator(schema)
        return self._validators[name]

    def problems(self, message: Any) -> List[str]:
        """Why `message` is not a valid kernel message as sent ([] where it is)."""
        try:
            json.dumps(message, allow_nan=False)
        except (TypeError, ValueError) as exc:
            return [f"not JSON as sent: {exc}"]
        kind = message.get("type") if isinstance(message, dict) else None
        name = self.by_type.get(kind)
        if name is None:
            return [f"not a kernel message of a known type: {str(message)[:200]}"]
        found = [f"{'/'.join(map(str, error.absolute_path)) or '(message)'}: {error.message}"
                 for error in self.validator(name).iter_errors(message)]
        if not found:
            repairs: List[str] = []
            read = self.reader.read(self.reader.definition(name), message, kind, repairs)
            if read is schemas.BAD or repairs:
                found = [f"the shim's reader would repair it: {repairs}"]
        return found


_check = None


def check_pending() -> List[str]:
    """Check every message captured since the last call: the failures, said plainly."""
    global _check
    taken = take_pending()
    if not taken:
        return []
    if _check is None:
        _check = ProtocolCheck()
    failures = []
    for source, message in taken:
        found = _check.problems(message)
        kind = message.get("type") if isinstance(message, dict) else "?"
        checked[(source, kind)] += 1
        if found:
            shown = json.dumps(message, default=repr)[:600]
            failures.append(f"{source} {kind} message {shown}:\n    " + "\n    ".join(found[:10]))
    return failures
