"""Loading the *installed* oomguard into a kernel: what a front end runs to attach.

The JupyterLab extension sends this file's source in a silent execute (the build embeds
it: scripts/embed-attach.js writes src/kernel/attachSource.ts), run as
``exec(source, {"__name__": "__oomguard_attach__"})``: a namespace of its own, so no name
lands in the user's. It must therefore stand alone: standard library only, no relative
imports, Python 3.9+.

Why not ``import oomguard``: a kernel's ``sys.path`` has its working directory (the
notebook's folder) before site-packages, so an ``oomguard.py`` in a folder downloaded from
the internet would run just because a notebook there was opened. Here the package is
looked for only where the installed distribution says it is, and nowhere else:

- the distribution's metadata (``oomguard-*.dist-info``) is looked for only in the
  interpreter's install directories (sysconfig's purelib/platlib, ``site``'s site
  directories and the user site), never on ``sys.path`` as it stands;
- a regular install (``pip install oomguard``): the package directory next to that
  metadata, where its RECORD lists ``oomguard/__init__.py``;
- an editable install (``pip install -e .``, hatchling's default mode): the absolute
  directories named by the ``.pth`` file its RECORD lists: the source checkout the
  developer installed from (``<checkout>/python_shim``). An editable install made with an
  import hook instead of a ``.pth`` path (hatchling's ``dev-mode-exact``) is not found:
  use the default mode.

A module named ``oomguard`` already imported from anywhere else is refused (ImportError,
saying where it came from), never enabled. Nothing else on ``sys.path`` is searched, and
the module found is imported directly from its file."""
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import site
import sys
import sysconfig

NAME = "oomguard"
RUN_AS = "__oomguard_attach__"  # the __name__ a front end runs this file under


def install_directories():
    """The interpreter's own install directories (real paths): where pip puts
    distributions for this environment."""
    candidates = [sysconfig.get_paths().get(key) for key in ("purelib", "platlib")]
    site_packages = getattr(site, "getsitepackages", None)  # missing in old virtualenvs
    if site_packages is not None:
        candidates.extend(site_packages())
    if site.ENABLE_USER_SITE:
        candidates.append(site.getusersitepackages())
    found = []
    for candidate in candidates:
        if isinstance(candidate, str) and os.path.isabs(candidate) and \
                os.path.isdir(candidate):
            real = os.path.realpath(candidate)
            if real not in found:
                found.append(real)
    return found


def _pth_directories(path):
    """The absolute directories a .pth file adds to sys.path (its `import` lines, which
    run code, and relative lines are not followed)."""
    found = []
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                line = line.strip()
                if line and not line.startswith(("#", "import ", "import\t")) and \
                        os.path.isabs(line) and os.path.isdir(line):
                    found.append(os.path.realpath(line))
    except (OSError, UnicodeDecodeError):
        pass
    return found


def package_directories(search=None):
    """Directories holding the installed `oomguard` package (each has `oomguard/` in
    it), from the installed distribution's own record. Raises ModuleNotFoundError when
    no distribution is installed in `search` (default: install_directories())."""
    search = install_directories() if search is None else list(search)
    for distribution in importlib.metadata.distributions(name=NAME, path=search):
        base = os.path.realpath(str(distribution.locate_file("")))
        found = []
        for record in distribution.files or ():
            parts = record.parts
            if len(parts) > 1 and parts[0] == NAME:
                directories = [base]  # a regular install: next to its metadata
            elif len(parts) == 1 and record.suffix == ".pth":
                directories = _pth_directories(os.path.join(base, record.name))  # editable
            else:
                continue
            found.extend(d for d in directories if d not in found)
        if found:
            return found
    raise ModuleNotFoundError(
        f"No module named '{NAME}' is installed in this kernel's environment "
        f"({sys.executable})", name=NAME)


def _is_package_in(origin, directories):
    if not isinstance(origin, str):
        return False
    home = os.path.dirname(os.path.realpath(origin))
    return any(home == os.path.join(directory, NAME) for directory in directories)


def installed_module(search=None):
    """The installed oomguard package, imported from where its distribution put it (see
    the module's docstring). Raises ModuleNotFoundError when it is not installed, and
    ImportError when another module of that name is already imported."""
    if NAME in sys.modules and sys.modules[NAME] is None:  # as `import` does
        raise ModuleNotFoundError(f"import of {NAME} halted; None in sys.modules", name=NAME)
    directories = package_directories(search)
    loaded = sys.modules.get(NAME)
    if loaded is not None:
        origin = getattr(loaded, "__file__", None)
        if _is_package_in(origin, directories):
            return loaded
        raise ImportError(
            f"This kernel already imported a module named '{NAME}' that is not the "
            f"installed one ({origin or 'no file'}); oomguard does not run it. Restart "
            "the kernel to use the installed oomguard.", name=NAME)
    spec = importlib.machinery.PathFinder.find_spec(NAME, directories)
    if spec is None or spec.loader is None or not _is_package_in(spec.origin, directories):
        raise ModuleNotFoundError(
            f"The installed '{NAME}' distribution has no package in "
            f"{', '.join(directories)}: reinstall it", name=NAME)
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(NAME, None)
        raise
    return module


def attach():
    """What a front end runs: enable the installed shim, and tell it a front end is about
    to open its comm (a cell the user runs meanwhile is shown there, not summed up as
    text in the cell)."""
    module = installed_module()
    module.enable()
    runtime = getattr(module, "_runtime", None)
    expect = getattr(runtime, "expect_front_end", None)
    if expect is not None:  # an older shim has none
        expect()


if __name__ == RUN_AS:
    attach()
