"""Kernel-spec wrapper: put this process into a memory cgroup, then become ipykernel.

    python enter_cgroup.py --cgroup DIR -f {connection_file}
    python enter_cgroup.py --cgroup-file NAME -f {connection_file}

DIR is the group's directory (real_cgroup.MemoryCgroup.path); NAME a file holding it,
relative to the working directory (for JupyterLab, the notebook's folder: each galata
test writes its own group there, and a kernel the server restarts finds it again). The
pid is written into the group's cgroup.procs and then the process execs
`python -m ipykernel_launcher` with the remaining arguments: same pid, so the kernel and
everything it starts are in the group from the first allocation on.

A kernel meant to run under a limit must never run without one: a path outside the v1
memory mount, a missing file or a failed write ends the process (exit 3), saying why."""
import os
import sys

MOUNT = "/sys/fs/cgroup/memory/"


def fail(why: str) -> None:
    print(f"enter_cgroup: {why}; the kernel is not started.", file=sys.stderr)
    sys.exit(3)


def group_from(args: list) -> tuple:
    if len(args) < 2 or args[0] not in ("--cgroup", "--cgroup-file"):
        fail("usage: enter_cgroup.py (--cgroup DIR | --cgroup-file NAME) ipykernel-args...")
    if args[0] == "--cgroup":
        return args[1], args[2:]
    try:
        with open(args[1]) as f:
            return f.read().strip(), args[2:]
    except OSError as exc:
        fail(f"no memory cgroup named in {os.path.abspath(args[1])} ({exc.strerror})")


def main() -> None:
    group, rest = group_from(sys.argv[1:])
    group = os.path.realpath(group)
    if not group.startswith(MOUNT) or not os.path.isfile(os.path.join(group, "cgroup.procs")):
        fail(f"{group} is not a cgroup v1 memory group")
    try:
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    except OSError as exc:
        fail(f"cannot enter {group} ({exc.strerror})")
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *rest])


if __name__ == "__main__":
    main()
