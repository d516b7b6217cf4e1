"""Attaching loads the installed oomguard only (oomguard/attach.py, the code the front end
runs): never a module of that name in the notebook's folder, which comes first on a
kernel's sys.path. A real kernel started in a folder that holds a hostile `oomguard.py`
(and a hostile package and metadata beside it) must run none of it."""
import importlib.util
import os
from pathlib import Path

import pytest
from kernel_session import KernelSession

import oomguard
from oomguard import attach

ATTACH_SOURCE = Path(attach.__file__).read_text()
# What the front end sends (src/kernel/shimConnection.ts LOAD_CODE; jest checks its form).
LOAD = f"exec({ATTACH_SOURCE!r}, {{'__name__': '__oomguard_attach__'}})"
HOSTILE = ("import pathlib\n"
           "pathlib.Path(__file__).with_name('MARKER-{name}').write_text('ran')\n"
           "def enable(**settings): pass\n")


def installed():
    try:
        return attach.package_directories()
    except ModuleNotFoundError:
        return None


def hostile_folder(folder: Path) -> Path:
    """A downloaded folder: oomguard.py, a package oomguard/, and metadata claiming them."""
    folder.mkdir(parents=True)
    (folder / "oomguard.py").write_text(HOSTILE.format(name="module"))
    package = folder / "oomguard"
    package.mkdir()
    (package / "__init__.py").write_text(HOSTILE.format(name="package"))
    info = folder / "oomguard-99.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: oomguard\nVersion: 99.0\n")
    (info / "RECORD").write_text("oomguard/__init__.py,,\noomguard.py,,\n")
    return folder


@pytest.mark.kernel
@pytest.mark.timeout(120)
def test_attach_in_a_hostile_folder_runs_none_of_it_and_connects(tmp_path):
    if installed() is None:
        pytest.skip("oomguard is not installed in this environment (pip install .): "
                    "attach loads the installed package only")
    folder = hostile_folder(tmp_path / "downloaded")
    session = KernelSession(tmp_path / "spec", cwd=folder.parent / "downloaded")
    try:
        # The hostile module is what a plain import finds: the test would prove nothing
        # otherwise. (find_spec reads no code.)
        assert session.evaluate(
            "__import__('importlib.util').util.find_spec('oomguard').origin") == \
            str(folder / "oomguard" / "__init__.py")
        session.execute(LOAD, silent=True)
        assert list(folder.rglob("MARKER*")) == []
        origin = session.evaluate("__import__('sys').modules['oomguard'].__file__")
        assert any(origin == os.path.join(d, "oomguard", "__init__.py") for d in installed())
        comm = session.open_comm({"v": 1, "type": "open", "client": "pytest"})
        hello = session.wait_comm(comm, kind="hello")[0]
        assert hello["pid"] > 0
        # The user's own `import oomguard` now gets the installed module too.
        assert session.evaluate("__import__('oomguard').__file__") == origin
        assert list(folder.rglob("MARKER*")) == []
    finally:
        session.shutdown()


@pytest.mark.kernel
@pytest.mark.timeout(120)
def test_a_foreign_module_already_imported_is_refused_not_enabled(tmp_path):
    if installed() is None:
        pytest.skip("oomguard is not installed in this environment (pip install .)")
    folder = tmp_path / "downloaded"
    folder.mkdir()
    (folder / "oomguard.py").write_text(
        HOSTILE.replace("def enable(**settings): pass",
                        "def enable(**settings):\n"
                        "    pathlib.Path(__file__).with_name('ENABLED').write_text('x')")
        .format(name="module"))
    session = KernelSession(tmp_path / "spec", cwd=folder)
    try:
        session.execute("import oomguard")  # the user's own choice: it runs
        msg_id = session.kc.execute(LOAD, silent=True)
        reply = session.kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "ImportError"
        assert str(folder / "oomguard.py") in reply["content"]["evalue"]
        assert not (folder / "ENABLED").exists()  # refused, never enabled
    finally:
        session.shutdown()


def write_distribution(site: Path, record: str, version: str = "1.0") -> None:
    info = site / f"oomguard-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: oomguard\nVersion: {version}\n")
    (info / "RECORD").write_text(record)


def test_a_regular_install_is_found_next_to_its_metadata(tmp_path):
    site = tmp_path / "site-packages"
    (site / "oomguard").mkdir(parents=True)
    (site / "oomguard" / "__init__.py").write_text("")
    write_distribution(site, "oomguard/__init__.py,,\noomguard-1.0.dist-info/RECORD,,\n"
                             "../../share/jupyter/labextensions/x/package.json,,\n")
    assert attach.package_directories([str(site)]) == [os.path.realpath(site)]


def test_an_editable_install_is_found_where_its_pth_file_points(tmp_path):
    # hatchling's editable wheel: a .pth file naming the checkout's source root.
    checkout = tmp_path / "checkout" / "python_shim"
    (checkout / "oomguard").mkdir(parents=True)
    (checkout / "oomguard" / "__init__.py").write_text("")
    site = tmp_path / "site-packages"
    write_distribution(site, "_oomguard.pth,,\noomguard-1.0.dist-info/RECORD,,\n")
    (site / "_oomguard.pth").write_text(
        f"# a comment\nimport os; os.system('false')\nrelative/dir\n{checkout}\n")
    assert attach.package_directories([str(site)]) == [os.path.realpath(checkout)]


def test_no_distribution_is_module_not_found_naming_oomguard(tmp_path):
    # What the front end turns into "oomguard is not installed ... %pip install oomguard".
    with pytest.raises(ModuleNotFoundError, match="oomguard") as raised:
        attach.package_directories([str(tmp_path)])
    assert raised.value.name == "oomguard"


def test_metadata_in_the_working_directory_is_not_looked_at(tmp_path, monkeypatch):
    folder = hostile_folder(tmp_path / "downloaded")
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend("")
    assert str(folder) not in [os.path.realpath(d) for d in attach.install_directories()]
    found = installed()
    if found is None:
        with pytest.raises(ModuleNotFoundError):
            attach.package_directories()
    else:
        assert os.path.realpath(folder) not in found


def test_the_module_is_imported_from_its_installed_file(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    (site / "oomguard").mkdir(parents=True)
    (site / "oomguard" / "__init__.py").write_text(
        "from . import part\nVALUE = part.VALUE\ndef enable(): return 'enabled'\n")
    (site / "oomguard" / "part.py").write_text("VALUE = 42\n")
    write_distribution(site, "oomguard/__init__.py,,\noomguard/part.py,,\n")
    monkeypatch.delitem(__import__("sys").modules, "oomguard")
    monkeypatch.delitem(__import__("sys").modules, "oomguard.attach", raising=False)
    module = attach.installed_module([str(site)])
    try:
        assert module.VALUE == 42 and module.enable() == "enabled"
        assert module.__file__ == str(site / "oomguard" / "__init__.py")
        assert attach.installed_module([str(site)]) is module  # loaded: returned as is
    finally:
        for name in ("oomguard", "oomguard.part"):
            __import__("sys").modules.pop(name, None)
        __import__("sys").modules["oomguard"] = oomguard
    assert importlib.util.find_spec("oomguard") is not None


def test_a_module_blocked_in_sys_modules_stays_blocked(monkeypatch):
    # `sys.modules[name] = None` is how Python says "no such module here" (and how the
    # ui-tests' kernel without oomguard is made): attaching honours it as import does.
    monkeypatch.setitem(__import__("sys").modules, "oomguard", None)
    with pytest.raises(ModuleNotFoundError, match="oomguard"):
        attach.installed_module()


@pytest.mark.kernel
@pytest.mark.timeout(120)
def test_a_cell_run_before_the_front_ends_comm_opens_is_not_summed_up_in_it(tmp_path):
    # The front end opens its comm only after the attach's reply: a cell the user runs
    # at once comes in between, and its text summary would land in the notebook.
    if installed() is None:
        pytest.skip("oomguard is not installed in this environment (pip install .)")
    session = KernelSession(tmp_path / "spec")
    try:
        session.execute(LOAD, silent=True)
        _, messages = session.run("1 + 1")
        printed = "".join(m["content"].get("text", "") for m in messages
                          if m["msg_type"] == "stream")
        assert "[oomguard]" not in printed
        # A front end that never opened its comm: after the grace, summaries are back.
        session.execute("oomguard = __import__('sys').modules['oomguard']\n"
                        "oomguard._runtime.summary._front_end_expected_until = 0.0", silent=True)
        _, messages = session.run("2 + 2")
        printed = "".join(m["content"].get("text", "") for m in messages
                          if m["msg_type"] == "stream")
        assert "[oomguard] cell" in printed
    finally:
        session.shutdown()
