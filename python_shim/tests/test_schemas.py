"""The kernel's schema reader (oomguard.schemas) against the cases the front end's reader
is tested on too (schema/vectors/reader.json; src/__tests__/schemaReader.spec.ts), and
the contracts as shipped in the package."""
import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from oomguard import schemas

REPO_SCHEMA = Path(__file__).resolve().parents[2] / "schema"


def vectors():
    path = REPO_SCHEMA / "vectors" / "reader.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["cases"]


@pytest.mark.parametrize("vector", vectors(), ids=lambda vector: vector["case"])
def test_the_reader_reads_as_the_front_end_does(vector):
    reader = schemas.protocol_reader()
    value = copy.deepcopy(vector["value"])
    problems = []
    read = reader.read(reader.definition(vector["definition"]), value, vector["at"], problems)
    assert (read is schemas.BAD) == vector["refused"]
    if not vector["refused"]:
        assert read == vector["kept"]
    assert problems == vector["problems"]
    assert value == vector["value"]  # what it read is left as it came


def test_the_contracts_come_from_the_installed_package():
    import oomguard
    package = Path(oomguard.__file__).resolve().parent
    assert schemas.SCHEMA_DIR == package / "schema"
    for name in ("protocol", "exports"):
        shipped = json.loads((package / "schema" / f"{name}.json").read_text())
        assert schemas.load(name) == shipped
        if (REPO_SCHEMA / f"{name}.json").exists():  # a source checkout: the same file
            assert shipped == json.loads((REPO_SCHEMA / f"{name}.json").read_text())


def test_the_protocol_is_a_valid_json_schema():
    Draft202012Validator.check_schema(schemas.protocol())


def test_a_reference_outside_the_document_is_refused():
    reader = schemas.SchemaReader({"$defs": {"a": {"$ref": "other.json#/x"}}})
    with pytest.raises(ValueError, match="only local references"):
        reader.definition("a")
