"""The source distribution carries the contracts in schema/, and a wheel built from it
ships them inside the package, where oomguard.schemas reads them: a wheel without them
cannot read a request or build a capped message.

python_shim/oomguard/schema is a link to schema/ in a checkout; hatchling walks each
directory once, so without pyproject's sdist settings the link stood in for schema/ and
the wheel built from the sdist failed (its force-include found no schema/)."""
import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ("protocol.json", "exports.json")


def _build_prerequisites():
    if not (ROOT / "pyproject.toml").exists():
        return "not a source checkout"
    if not (ROOT / "python_shim/oomguard/labextension/static/style.js").exists():
        return "the extension is not built (npm run build:prod): the build would run npm"
    try:
        import hatchling  # noqa: F401
        import hatch_jupyter_builder  # noqa: F401
        import hatch_nodejs_version  # noqa: F401
    except ImportError as error:
        return f"pyproject's build requirements are not installed ({error.name})"
    return None


pytestmark = pytest.mark.skipif(_build_prerequisites() is not None,
                                reason=str(_build_prerequisites()))


def _run(*args, cwd):
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    out = tmp_path_factory.mktemp("sdist")
    _run(sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(out), cwd=ROOT)
    (path,) = out.glob("oomguard-*.tar.gz")
    return path


def test_the_sdist_carries_schema_itself(sdist):
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for name in (*CONTRACTS, "settings/plugin.json", "vectors/reader.json"):
        assert f"schema/{name}" in names
    assert not any(name.startswith("python_shim/oomguard/schema/") for name in names)


def test_a_wheel_built_from_the_sdist_reads_its_own_contracts(sdist, tmp_path):
    wheels = tmp_path / "wheel"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(sdist), cwd=tmp_path)
    (wheel,) = wheels.glob("oomguard-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        for name in CONTRACTS:
            shipped = json.loads(archive.read(f"oomguard/schema/{name}"))
            assert shipped == json.loads((ROOT / "schema" / name).read_text())
        archive.extractall(site)
    # Imported from the unpacked wheel, away from the checkout (-I: no PYTHONPATH, no
    # user site; the working directory is not on sys.path either).
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import oomguard, oomguard.schemas as s\n"
        "assert oomguard.__file__.startswith(sys.argv[1]), oomguard.__file__\n"
        "print(s.SCHEMA_DIR, s.protocol_at('notes', 'maxItems'), sorted(s.export_spec()))\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", probe, str(site)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    schema_dir, notes_cap, _ = done.stdout.split(" ", 2)
    assert Path(schema_dir) == site / "oomguard" / "schema"
    assert int(notes_cap) == json.loads(
        (ROOT / "schema/protocol.json").read_text())["$defs"]["notes"]["maxItems"]
