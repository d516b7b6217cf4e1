"""The two contracts shared with the front end, read from the JSON files shipped inside
this package (``oomguard/schema/``; in a source checkout a link to the repository's
``schema/``), never from the working directory:

- ``protocol.json``: every message of the comm protocol (docs/protocol.md). The kernel
  reads what the front end sends with `SchemaReader`, and its message builders take
  their caps (`protocol_at`) from it; the tests validate every message the kernel builds
  against it.
- ``exports.json``: the columns and events of a timeline export (exporters.py).

`SchemaReader` reads a value field by field exactly as src/schema/reader.ts does (the
subset of JSON Schema and the repair keywords are described in protocol.json's
`$comment`; schema/vectors/reader.json holds the cases both readers are tested on)."""
from __future__ import annotations

import copy
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

SCHEMA_DIR = Path(__file__).resolve().with_name("schema")


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    """``schema/<name>.json`` from this package."""
    with open(SCHEMA_DIR / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


def protocol() -> dict:
    return load("protocol")


def export_spec() -> dict:
    return load("exports")


def protocol_at(definition: str, *path: str) -> Any:
    """What the protocol's definition `definition` holds down `path`: a limit
    (``protocol_at("notes", "maxItems")``), a message's fields
    (``protocol_at("sample", "properties")``)..."""
    node: Any = protocol()["$defs"][definition]
    for part in path:
        node = node[part]
    return node


class _Bad:
    """What cannot be kept (the caller refuses the object or leaves out the item)."""

    def __repr__(self) -> str:
        return "BAD"


BAD = _Bad()
_OMIT = object()  # a field left out (onInvalid: "omit")
_MISSING = object()  # a required field that is absent


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but `true` is not a number on the wire.
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _is_integer(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer()


def _types(schema: dict) -> Optional[List[str]]:
    kind = schema.get("type")
    if kind is None:
        return None
    return list(kind) if isinstance(kind, list) else [kind]


def _json_dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class SchemaReader:
    """Reads values against the nodes of one JSON Schema document (see the module
    docstring). Never raises on a value; a malformed schema raises at the first read."""

    def __init__(self, root: dict):
        self.root = root
        self._resolved: Dict[int, dict] = {}

    def definition(self, name: str) -> dict:
        return self.resolve(self.root["$defs"][name])

    def read(self, schema: dict, value: Any, at: str, problems: List[str]) -> Any:
        """The value to keep, repaired as far as `schema` allows, or BAD; each repair is
        said in `problems`."""
        kept = self._value(self.resolve(schema), value, at, problems)
        return BAD if kept is _OMIT else kept

    def resolve(self, node: dict) -> dict:
        """`node` with its `$ref` merged in (properties merged, required joined)."""
        known = self._resolved.get(id(node))
        if known is not None:
            return known
        merged = node
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self.resolve(self._pointer(ref))
            own = {k: v for k, v in node.items() if k != "$ref"}
            merged = {**target, **own}
            if "properties" in target and "properties" in own:
                merged["properties"] = {**target["properties"], **own["properties"]}
                merged["required"] = [*target.get("required", ()), *own.get("required", ())]
        self._resolved[id(node)] = merged
        return merged

    def _pointer(self, ref: str) -> dict:
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are read: {ref}")
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _value(self, schema: dict, value: Any, at: str, problems: List[str]) -> Any:
        kept = self._check(schema, value, at, problems)
        if kept is not BAD:
            return kept
        repair = schema.get("onInvalid")
        if repair == "null":
            problems.append(f"{at}: unreadable, taken as not measured")
            return None
        if repair == "default":
            problems.append(f"{at}: missing or unreadable, taken as "
                            f"{_json_dumps(schema.get('default'))}")
            return copy.deepcopy(schema.get("default"))
        if repair == "omit":
            problems.append(f"{at}: unreadable, left out")
            return _OMIT
        return BAD

    def _check(self, schema: dict, value: Any, at: str, problems: List[str]) -> Any:
        if value is _MISSING:
            return BAD
        if "const" in schema:
            const = schema["const"]
            same = value == const and isinstance(value, bool) == isinstance(const, bool)
            return value if same else BAD
        if isinstance(schema.get("anyOf"), list):
            return self._value_or_null(schema["anyOf"], value, at, problems)
        allowed = _types(schema)
        if value is None:
            return None if allowed is not None and "null" in allowed else BAD
        if isinstance(schema.get("enum"), list) and not any(
                value == option and isinstance(value, bool) == isinstance(option, bool)
                for option in schema["enum"]):
            return BAD

        def allows(kind: str) -> bool:
            return allowed is None or kind in allowed

        if isinstance(value, str):
            return self._text(schema, value, at, problems) if allows("string") else BAD
        if isinstance(value, bool):
            return value if allows("boolean") else BAD
        if isinstance(value, (int, float)):
            fits = allows("number") and _is_number(value) or \
                allows("integer") and _is_integer(value)
            return self._number(schema, value, at, problems) if fits else BAD
        if isinstance(value, (list, tuple)):
            return self._list(schema, list(value), at, problems) if allows("array") else BAD
        if isinstance(value, dict) and allows("object"):
            if "properties" in schema:
                return self._shaped(schema, value, at, problems)
            return self._dict(schema, value, at, problems)
        return BAD

    def _value_or_null(self, branches: list, value: Any, at: str, problems: List[str]) -> Any:
        """`anyOf: [X, {"type": "null"}]`, the one use of anyOf in the subset."""
        resolved = [self.resolve(branch) for branch in branches]
        if value is None:
            return None if any(b.get("type") == "null" for b in resolved) else BAD
        for branch in resolved:
            if branch.get("type") != "null":
                return self._value(branch, value, at, problems)
        return BAD

    @staticmethod
    def _text(schema: dict, value: str, at: str, problems: List[str]) -> Any:
        most = schema.get("maxLength")
        if not isinstance(most, int) or len(value) <= most:
            return value
        if schema.get("atomic"):
            return BAD
        problems.append(f"{at}: text cut to {most} characters")
        return value[:most]

    @staticmethod
    def _number(schema: dict, value: Any, at: str, problems: List[str]) -> Any:
        low_ex = schema.get("exclusiveMinimum")
        if _is_number(low_ex) and not value > low_ex:
            return BAD
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        low = _is_number(minimum) and value < minimum
        high = _is_number(maximum) and value > maximum
        if not low and not high:
            return value
        if not schema.get("clamp"):
            return BAD
        problems.append(f"{at}: {value} brought within {minimum} to {maximum}")
        return minimum if low else maximum

    def _list(self, schema: dict, value: list, at: str, problems: List[str]) -> Any:
        most = schema.get("maxItems")
        most = most if isinstance(most, int) else len(value)
        items = self.resolve(schema["items"]) if isinstance(schema.get("items"), dict) \
            else None

        def one(i: int, item: Any) -> Any:
            return self._value(items, item, f"{at}[{i}]", problems) if items else item

        if schema.get("atomic"):
            if len(value) > most:
                return BAD
            kept = [one(i, item) for i, item in enumerate(value)]
            return BAD if any(k is BAD or k is _OMIT for k in kept) else kept
        if len(value) > most:
            problems.append(f"{at}: {len(value) - most} items past the first {most} left out")
        kept, bad = [], 0
        for i, item in enumerate(value[:most]):
            read = one(i, item)
            if read is BAD or read is _OMIT:
                bad += 1
            else:
                kept.append(read)
        if bad:
            problems.append(f"{at}: {bad} unreadable items left out")
        return kept

    def _shaped(self, schema: dict, value: dict, at: str, problems: List[str]) -> Any:
        """An object of named fields; fields not named are kept as they come."""
        required = set(schema.get("required", ()))
        kept = dict(value)
        for field, node in schema["properties"].items():
            field_schema = self.resolve(node)
            where = f"{at}.{field}"
            present = field in value
            if not present and field not in required:
                if "default" in field_schema:
                    kept[field] = copy.deepcopy(field_schema["default"])
                continue
            read = self._value(field_schema, value[field] if present else _MISSING, where,
                               problems)
            if read is BAD:
                problems.append(f"{where}: missing or unreadable")
                return BAD
            if read is _OMIT:
                kept.pop(field, None)
            else:
                kept[field] = read
        return kept

    def _dict(self, schema: dict, value: dict, at: str, problems: List[str]) -> Any:
        """{"key": value, ...}: the first `maxProperties` entries, those that read."""
        values = schema.get("additionalProperties")
        if not isinstance(values, dict):
            return dict(value)
        entries = list(value.items())
        most = schema.get("maxProperties")
        most = most if isinstance(most, int) else len(entries)
        longest = (schema.get("propertyNames") or {}).get("maxLength")
        if len(entries) > most:
            problems.append(f"{at}: {len(entries) - most} entries past the first {most} "
                            "left out")
        item = self.resolve(values)
        kept, bad = {}, 0
        for key, one in entries[:most]:
            fits = isinstance(key, str) and (longest is None or len(key) <= longest)
            read = self._value(item, one, f"{at}.{key}", problems) if fits else BAD
            if read is BAD or read is _OMIT:
                bad += 1
            else:
                kept[key] = read
        if bad:
            problems.append(f"{at}: {bad} unreadable entries left out")
        return kept


@lru_cache(maxsize=None)
def protocol_reader() -> SchemaReader:
    return SchemaReader(protocol())
