"""VRAM probes: nvidia-smi (fake executables on PATH), NVML fallbacks, CUDA_VISIBLE_DEVICES,
torch left alone, one real kernel, and real-GPU checks that run where a GPU is."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import types

import pytest
from oomguard.probes import cuda_visible, nvidia_smi
from oomguard.probes.gpu import GPU_FIELDS, GpuProbe
from oomguard.probes.nvidia_smi import SmiBackend
from oomguard.probes.torch_cuda import reset_torch_peaks, torch_peaks

try:
    import pynvml as real_pynvml  # for its NVMLError, taken before tests hide the module
except ImportError:
    real_pynvml = None

MiB = 1 << 20
H100 = "GPU-aaaa1111-0000-0000-0000-000000000000"
T4 = "GPU-bbbb2222-0000-0000-0000-000000000000"
TWO_GPUS = (f"0, {H100}, NVIDIA H100 80GB HBM3, 1024, 81559\n"
            f"1, {T4}, Tesla T4, 0, 15360\n")
NO_SUCH_PID = 4_000_000  # above Linux's pid_max limit: never a process here


class FakeSmi:
    """An `nvidia-smi` that prints what a test gives it and logs each call's arguments.
    "{ppid}" in its output becomes its parent's pid: the process that ran it."""

    def __init__(self, bin_dir):
        self.path = bin_dir / "nvidia-smi"
        self.log = bin_dir / "calls.log"

    def write(self, gpus="", apps="", status=0):
        self.path.write_text(textwrap.dedent(f"""\
            #!{sys.executable} -I
            import os, sys
            args = " ".join(sys.argv[1:])
            with open({str(self.log)!r}, "a") as log:
                log.write(args + " CVD=" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset") + "\\n")
            out = ({gpus!r} if "--query-gpu" in args
                   else {apps!r} if "--query-compute-apps" in args else "")
            sys.stdout.write(out.replace("{{ppid}}", str(os.getppid())))
            sys.exit({status})
            """))
        self.path.chmod(0o755)

    def write_shell(self, body):
        self.path.write_text("#!/bin/sh\n" + body)
        self.path.chmod(0o755)

    def calls(self):
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def smi(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # NVML absent: import fails
    return FakeSmi(bin_dir)


def read(probe, refresh=True):
    notes = []
    return probe.read(notes, refresh=refresh), notes


# --- nvidia-smi output -------------------------------------------------------------------
def test_two_gpus_with_this_process_on_one(smi):
    me, other = os.getpid(), os.getppid()
    smi.write(TWO_GPUS, f"{me}, {H100}, 300\n{other}, {T4}, 50\n{me}, {H100}, 20\n")
    gpus, notes = read(GpuProbe())
    assert [tuple(sorted(g)) for g in gpus] == [tuple(sorted(GPU_FIELDS))] * 2
    first, second = gpus
    assert first == {"index": 0, "uuid": H100, "name": "NVIDIA H100 80GB HBM3",
                     "used": 1024 * MiB, "total": 81559 * MiB, "process_used": 320 * MiB,
                     "torch_allocated": None, "torch_reserved": None, "source": "nvidia-smi"}
    assert (second["index"], second["name"], second["used"]) == (1, "Tesla T4", 0)
    assert second["process_used"] == 0  # another (visible) process uses it, not this one
    assert any("different models" in n and "CUDA_DEVICE_ORDER" in n for n in notes)
    assert all("CVD=unset" in call for call in smi.calls())  # never passed on to nvidia-smi


def test_same_models_or_pci_order_need_no_numbering_note(smi, monkeypatch):
    smi.write(TWO_GPUS.replace("Tesla T4", "NVIDIA H100 80GB HBM3"), "")
    assert read(GpuProbe())[1] == []
    smi.write(TWO_GPUS, "")
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert read(GpuProbe())[1] == []


def test_not_available_fields_are_none_with_notes(smi):
    smi.write(f"0, [N/A], Quadro, [N/A], [Not Supported]\n1, {T4}, Tesla T4, 10, 15360\n",
              f"{os.getpid()}, {T4}, [N/A]\n")
    (first, second), notes = read(GpuProbe())
    assert (first["uuid"], first["name"]) == (None, "Quadro")
    assert (first["used"], first["total"]) == (None, None)
    assert first["process_used"] is None  # no uuid: its processes cannot be matched
    assert second["used"] == 10 * MiB and second["process_used"] is None  # [N/A] bytes
    assert "GPU 0 does not report its memory use (nvidia-smi)." in notes


def sixteen_gpus():
    """A 16-GPU node as nvidia-smi prints it: two models, every other GPU without memory
    figures, and each running a process this kernel cannot see (a container)."""
    gpus, apps = "", ""
    for i in range(16):
        uuid = f"GPU-{i:08x}-0000-0000-0000-000000000000"
        model = "NVIDIA H100 80GB HBM3" if i < 8 else "NVIDIA A100-SXM4-40GB"
        used = "[N/A]" if i % 2 else str(1024 + i)
        gpus += f"{i}, {uuid}, {model}, {used}, 81559\n"
        apps += f"{NO_SUCH_PID + i}, {uuid}, 100\n"
    return gpus, apps


def test_sixteen_gpus_fit_in_one_sample(smi):
    # Their notes (one per GPU without figures, one per GPU whose processes cannot be
    # seen, one about numbering) are more than a sample carries: the sample says each
    # once and within the cap, with every GPU in it.
    from oomguard import protocol
    smi.write(*sixteen_gpus())
    gpus, notes = read(GpuProbe())
    assert len(gpus) == 16 and len(notes) > protocol.MAX_NOTES
    sent = protocol.sample({"t": 1.0, "gpus": gpus, "notes": notes})
    assert [g["index"] for g in sent["gpus"]] == list(range(16))
    assert len(sent["notes"]) <= protocol.MAX_NOTES
    assert set(sent["notes"]) == set(notes)  # the repeats said once; nothing else lost


def test_a_gpu_name_with_commas_and_float_figures(smi):
    smi.write(f"0, {H100}, Weird, Model, 2, 1.5, 16\n", "")
    (gpu,), _ = read(GpuProbe())
    assert (gpu["name"], gpu["used"], gpu["total"]) == ("Weird, Model, 2", int(1.5 * MiB), 16 * MiB)


def test_garbage_is_not_measured(smi):
    smi.write("Unable to determine the device handle for GPU0000:00:1E.0: Unknown Error\n", "")
    gpus, notes = read(GpuProbe())
    assert gpus is None and any("no GPU oomguard could read" in n for n in notes)


def test_garbage_lines_among_good_ones_are_skipped(smi):
    smi.write(TWO_GPUS + "%%% what is this\n", "12ab, x\n")
    gpus, notes = read(GpuProbe())
    assert [g["uuid"] for g in gpus] == [H100, T4]
    assert any("1 line(s) about GPUs" in n for n in notes)
    assert [g["process_used"] for g in gpus] == [None, None]  # an unreadable process line
    assert any("share of GPU memory is not measured" in n for n in notes)


def test_empty_output_is_not_measured(smi):
    smi.write("", "")
    gpus, notes = read(GpuProbe())
    assert gpus is None and notes


def test_non_zero_exit_is_not_measured_and_says_why(smi):
    message = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
               "Make sure that the latest NVIDIA driver is installed and running.\n")
    smi.write(message, "", status=9)
    gpus, notes = read(GpuProbe())
    assert gpus is None
    assert any("exit status 9" in n and "couldn't communicate" in n for n in notes)


def test_a_failing_process_query_leaves_only_the_share_unmeasured(smi):
    smi.write_shell(f"case \"$1\" in --query-gpu*) printf '{TWO_GPUS}';; *) exit 3;; esac\n")
    gpus, notes = read(GpuProbe())
    assert [g["used"] for g in gpus] == [1024 * MiB, 0]
    assert [g["process_used"] for g in gpus] == [None, None]
    assert any("exit status 3" in n for n in notes)


def test_a_hanging_nvidia_smi_is_killed_within_the_timeout(smi, tmp_path):
    sleeper = tmp_path / "sleeper.pid"
    smi.write_shell(f"sleep 30 &\necho $! > {sleeper}\nwait\n")
    started = time.monotonic()
    gpus, notes = read(GpuProbe())
    took = time.monotonic() - started
    assert gpus is None and took < nvidia_smi.TIMEOUT_S + 1, took
    assert any("did not answer within" in n for n in notes)
    # The whole process group went, the shell's own child (sleep 30) included.
    pid = int(sleeper.read_text())
    deadline = time.monotonic() + 3
    while not ended(pid):
        assert time.monotonic() < deadline, "sleep 30 survived the timeout"
        time.sleep(0.05)


def ended(pid):
    """Gone, or dead and waiting for its new parent to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_missing_nvidia_smi_without_a_driver_means_no_gpu(smi, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert read(GpuProbe(root=str(tmp_path))) == ([], [])


def test_missing_nvidia_smi_with_a_driver_is_not_measured(smi, tmp_path, monkeypatch):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "nvidiactl").write_text("")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    gpus, notes = read(GpuProbe(root=str(tmp_path)))
    assert gpus is None
    assert any("driver is loaded" in n and "nvidia-smi is not on PATH" in n for n in notes)


# --- cadence: cache, back-off, threads ---------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_figures_are_cached_between_refreshes(smi):
    smi.write(TWO_GPUS, "")
    clock = Clock()
    probe = GpuProbe(smi=SmiBackend(clock=clock))
    for _ in range(5):
        assert len(read(probe)[0]) == 2
    assert len(smi.calls()) == 2  # one --query-gpu and one --query-compute-apps
    clock.now += nvidia_smi.REFRESH_S
    smi.write(TWO_GPUS.replace(", 1024,", ", 2048,"), "")
    assert read(probe)[0][0]["used"] == 2048 * MiB and len(smi.calls()) == 4


def test_failures_back_off_before_retrying(smi):
    smi.write("", "", status=1)
    clock = Clock()
    probe = GpuProbe(smi=SmiBackend(clock=clock))
    for _ in range(5):
        gpus, notes = read(probe)
        assert gpus is None and any("exit status 1" in n for n in notes)
        clock.now += 10
    assert len(smi.calls()) == 1
    smi.write(TWO_GPUS, "")
    clock.now += nvidia_smi.RETRY_S
    assert len(read(probe)[0]) == 2 and len(smi.calls()) == 3


def test_the_main_thread_serves_the_cache_and_the_sampler_thread_measures(smi):
    smi.write(TWO_GPUS, "")
    clock = Clock()
    probe = GpuProbe(smi=SmiBackend(clock=clock, refresh=0.0))
    assert len(read(probe, refresh=None)[0]) == 2  # first reading ever: measured once
    calls = len(smi.calls())
    for _ in range(3):
        assert len(read(probe, refresh=None)[0]) == 2  # a cell's path: no process started
    assert len(smi.calls()) == calls
    worker = threading.Thread(target=read, args=(probe, None))
    worker.start()
    worker.join(10)
    assert len(smi.calls()) == calls + 2


def test_a_reader_never_waits_for_a_slow_measurement(smi):
    smi.write_shell("sleep 30\n")
    probe = GpuProbe()
    worker = threading.Thread(target=read, args=(probe, True))
    worker.start()
    time.sleep(0.5)  # the worker is now inside the 2 s nvidia-smi call
    started = time.monotonic()
    gpus, notes = read(probe, refresh=None)
    assert time.monotonic() - started < 0.3
    assert gpus is None and any("not been read yet" in n for n in notes)
    worker.join(10)


# --- CUDA_VISIBLE_DEVICES ----------------------------------------------------------------
FOUR_GPUS = "".join(f"{i}, GPU-{c * 4}{i}-uuid, NVIDIA A10, {i}, 24000\n"
                    for i, c in enumerate("abcd"))


@pytest.mark.parametrize("visible, physical", [
    ("2,0", [2, 0]),
    (" 3 , 1", [3, 1]),
    ("1gpu2,0", [1, 0]),   # read like strtoul
    ("0,7,1", [0]),        # stops at the first device that does not exist
    ("1,-1,2", [1]),       # and at the first invalid entry
    ("1,1", []),           # a device named twice: none
    ("", []),
    ("-1", []),
    ("GPU-cccc", [2]),     # a uuid prefix
    ("GPU-dddd3-uuid,GPU-aaaa", [3, 0]),
    ("GPU-,0", []),        # ambiguous prefix: stops there
    ("GPU-bbbb,1", []),    # the same device twice
    ("MIG-aaaa", []),      # nvidia-smi cannot show MIG instances
])
def test_cuda_visible_devices_filters_and_renumbers(smi, monkeypatch, visible, physical):
    smi.write(FOUR_GPUS, "")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    gpus, notes = read(GpuProbe())
    assert [g["used"] // MiB for g in gpus] == physical  # "used" is the physical index here
    assert [g["index"] for g in gpus] == list(range(len(physical)))
    assert ("MIG" in visible) == any("MIG instance" in n for n in notes)


def test_cuda_visible_devices_unset_shows_all_and_is_read_live(smi, monkeypatch):
    smi.write(FOUR_GPUS, "")
    probe = GpuProbe(smi=SmiBackend(refresh=0.0))
    assert len(read(probe)[0]) == 4
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # set in a cell before torch starts CUDA
    assert [g["uuid"] for g in read(probe)[0]] == ["GPU-dddd3-uuid"]


def test_parse_mirrors_cuda():
    assert cuda_visible.parse(None) is None
    assert cuda_visible.parse("0, +2,3x") == [0, 2, 3]
    assert cuda_visible.parse("MIG-abc,GPU-x") == ["MIG-abc", "GPU-x"]
    assert cuda_visible.parse("2,2") == [] and cuda_visible.parse("x,1") == []


# --- NVML ----------------------------------------------------------------------------------
def failing_nvml(code):
    """A pynvml whose nvmlInit fails as the real one does without a driver."""
    if real_pynvml is None:
        pytest.skip("nvidia-ml-py is not installed")
    module = types.ModuleType("pynvml")
    module.inits = 0

    def nvmlInit():
        module.inits += 1
        raise real_pynvml.NVMLError(code)

    module.nvmlInit = nvmlInit
    return module


@pytest.mark.parametrize("code", [12, 9])  # library not found, driver not loaded
def test_nvml_failing_init_falls_back_to_nvidia_smi_once(smi, monkeypatch, code):
    module = failing_nvml(code)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    smi.write(TWO_GPUS, "")
    probe = GpuProbe(smi=SmiBackend(refresh=0.0))
    for _ in range(3):
        gpus, _ = read(probe)
        assert [g["source"] for g in gpus] == ["nvidia-smi"] * 2
    assert module.inits == 1  # tried once, not at every sample
    assert "NVML could not start" in probe.nvml.failure and probe.nvml.no_driver


def test_nvml_absent_falls_back_to_nvidia_smi(smi):
    smi.write(TWO_GPUS, "")
    gpus, _ = read(GpuProbe())
    assert [g["source"] for g in gpus] == ["nvidia-smi"] * 2


def test_nvml_failing_without_nvidia_smi_or_driver_is_no_gpu(smi, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynvml", failing_nvml(12))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert read(GpuProbe(root=str(tmp_path))) == ([], [])


class Memory:
    def __init__(self, used, total):
        self.used, self.total = used, total


class Process:
    def __init__(self, pid, used):
        self.pid, self.usedGpuMemory = pid, used


def working_nvml(devices, mig=()):
    """A pynvml over a made-up machine, to check the NVML path's logic on a machine that
    has no GPU (the real one is checked by the gpu-marked tests below)."""
    module = types.ModuleType("pynvml")
    handles = {("gpu", i): d for i, d in enumerate(devices)}
    handles.update({("mig", i): d for i, d in enumerate(mig)})
    module.nvmlInit = lambda: None
    module.nvmlDeviceGetCount = lambda: len(devices)
    module.nvmlDeviceGetHandleByIndex = lambda i: ("gpu", i)
    module.nvmlDeviceGetUUID = lambda h: handles[h]["uuid"]
    module.nvmlDeviceGetName = lambda h: handles[h]["name"].encode()  # old bindings: bytes
    module.nvmlDeviceGetMemoryInfo = lambda h: Memory(handles[h]["used"], handles[h]["total"])
    module.nvmlDeviceGetComputeRunningProcesses = lambda h: [
        Process(pid, used) for pid, used in handles[h]["processes"]]
    module.nvmlDeviceGetMigMode = lambda h: (1 if mig and h == ("gpu", 0) else 0, 0)
    module.nvmlDeviceGetMaxMigDeviceCount = lambda h: len(mig) + 1

    def mig_handle(parent, slot):
        if slot >= len(mig):
            raise RuntimeError("NVML_ERROR_NOT_FOUND")  # an empty slot
        return ("mig", slot)

    module.nvmlDeviceGetMigDeviceHandleByIndex = mig_handle
    return module


def test_sixteen_gpus_through_nvml_fit_in_one_sample(smi, monkeypatch):
    # NVML says up to three things per GPU (memory, processes, no figures): 48 notes on
    # a 16-GPU node whose queries fail, where the front end takes 20. Before the
    # builders capped them, every sample from such a node was refused by the page.
    from oomguard import protocol
    module = working_nvml([{"uuid": f"GPU-{i:08x}", "name": "NVIDIA H100", "used": 0,
                            "total": 80 * MiB, "processes": []} for i in range(16)])

    def not_supported(handle):
        raise RuntimeError("Not Supported")

    module.nvmlDeviceGetMemoryInfo = not_supported
    module.nvmlDeviceGetComputeRunningProcesses = not_supported
    monkeypatch.setitem(sys.modules, "pynvml", module)
    gpus, notes = read(GpuProbe(), refresh=None)
    assert len(gpus) == 16 and len(set(notes)) == 48
    sent = protocol.sample({"t": 1.0, "gpus": gpus, "notes": notes})
    assert len(sent["gpus"]) == 16 and len(sent["notes"]) == protocol.MAX_NOTES
    assert sent["notes"][-1] == "\u2026 and 29 more notes."


def test_nvml_path_reads_devices_and_this_process(smi, monkeypatch):
    me = os.getpid()
    monkeypatch.setitem(sys.modules, "pynvml", working_nvml([
        {"uuid": H100, "name": "NVIDIA H100", "used": 5 * MiB, "total": 80 * MiB,
         "processes": [(me, 3 * MiB), (NO_SUCH_PID, MiB)]},
        {"uuid": T4, "name": "NVIDIA H100", "used": 0, "total": 80 * MiB, "processes": []},
    ]))
    smi.write(TWO_GPUS, "")
    gpus, notes = read(GpuProbe(), refresh=None)
    assert [(g["index"], g["uuid"], g["used"], g["total"], g["source"]) for g in gpus] == [
        (0, H100, 5 * MiB, 80 * MiB, "nvml"), (1, T4, 0, 80 * MiB, "nvml")]
    assert [g["name"] for g in gpus] == ["NVIDIA H100"] * 2  # bytes from old bindings decoded
    assert [g["process_used"] for g in gpus] == [3 * MiB, 0]
    assert smi.calls() == [] and notes == []


def test_processes_from_another_pid_namespace_make_the_share_unknown(smi, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", working_nvml([
        {"uuid": H100, "name": "A", "used": 5 * MiB, "total": 80 * MiB,
         "processes": [(NO_SUCH_PID, 3 * MiB)]}]))
    (gpu,), notes = read(GpuProbe())
    assert gpu["process_used"] is None and any("container" in n for n in notes)


def test_nvml_resolves_mig_instances_named_in_cuda_visible_devices(smi, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", working_nvml(
        [{"uuid": H100, "name": "NVIDIA H100", "used": 9 * MiB, "total": 80 * MiB,
          "processes": []}],
        mig=[{"uuid": "MIG-1111-aaaa", "name": "MIG 1g.10gb", "used": MiB, "total": 10 * MiB,
              "processes": [(os.getpid(), MiB)]},
             {"uuid": "MIG-2222-bbbb", "name": "MIG 1g.10gb", "used": 0, "total": 10 * MiB,
              "processes": []}]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-2222,MIG-1111")
    gpus, _ = read(GpuProbe())
    assert [(g["index"], g["uuid"], g["total"], g["process_used"]) for g in gpus] == [
        (0, "MIG-2222-bbbb", 10 * MiB, 0), (1, "MIG-1111-aaaa", 10 * MiB, MiB)]


# --- torch ---------------------------------------------------------------------------------
def fake_torch(monkeypatch, initialised, allocated=100 * MiB, reserved=128 * MiB):
    """torch.cuda as the probe sees it on a GPU machine (this one has none)."""
    torch, cuda = types.ModuleType("torch"), types.ModuleType("torch.cuda")
    torch.cuda = cuda
    cuda.peaks_reset = []
    cuda.is_initialized = lambda: initialised
    cuda.device_count = lambda: 1
    cuda.memory_allocated = lambda i: allocated
    cuda.memory_reserved = lambda i: reserved
    cuda.max_memory_allocated = lambda i: 2 * allocated
    cuda.reset_peak_memory_stats = cuda.peaks_reset.append
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch.cuda", cuda)
    return cuda


def test_torch_figures_where_cuda_is_initialised(smi, monkeypatch):
    cuda = fake_torch(monkeypatch, initialised=True)
    smi.write(TWO_GPUS, f"{os.getpid()}, {H100}, 300\n")
    first, second = read(GpuProbe())[0]
    assert (first["torch_allocated"], first["torch_reserved"]) == (100 * MiB, 128 * MiB)
    assert (second["torch_allocated"], second["torch_reserved"]) == (None, None)  # torch sees 1
    assert first["process_used"] == 300 * MiB
    assert reset_torch_peaks() is True and cuda.peaks_reset == [0]
    assert torch_peaks() == {0: 200 * MiB}


def test_a_process_missing_from_the_list_while_torch_holds_memory_is_unknown(smi, monkeypatch):
    fake_torch(monkeypatch, initialised=True)
    smi.write(TWO_GPUS, "")  # as nvidia-smi in a container: no processes listed at all
    (first, second), notes = read(GpuProbe())
    assert first["process_used"] is None and any("128 MiB" in n for n in notes)
    assert second["process_used"] == 0


def test_nothing_of_torch_is_called_before_cuda_is_initialised(smi, monkeypatch):
    cuda = fake_torch(monkeypatch, initialised=False)
    for name in ("device_count", "memory_allocated", "memory_reserved", "max_memory_allocated",
                 "reset_peak_memory_stats"):
        setattr(cuda, name, None)  # calling any of them would raise TypeError
    smi.write(TWO_GPUS, "")
    gpus, _ = read(GpuProbe())
    assert all(g["torch_allocated"] is None and g["torch_reserved"] is None for g in gpus)
    assert reset_torch_peaks() is False and torch_peaks() == {}


def run_python(code, env_path):
    env = dict(os.environ, PATH=env_path)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_probe_does_not_import_torch(smi):
    smi.write(TWO_GPUS, "")
    result = run_python("""
        import json, sys
        sys.modules["pynvml"] = None  # the fake nvidia-smi, even where a real NVML works
        from oomguard.readings import Readings
        from oomguard.probes.gpu import GpuProbe, reset_torch_peaks, torch_peaks
        gpus = GpuProbe().read([], refresh=True)
        sample = Readings().take()
        reset_torch_peaks(); torch_peaks()
        print(json.dumps([len(gpus), len(sample["gpus"]), "torch" in sys.modules]))
        """, os.environ["PATH"])
    assert result == [2, 2, False]


def test_torch_imported_but_cuda_not_initialised_stays_so(smi):
    pytest.importorskip("torch")
    smi.write(TWO_GPUS, "")
    result = run_python("""
        import json, sys
        import torch
        sys.modules["pynvml"] = None  # the fake nvidia-smi, even where a real NVML works
        from oomguard.probes.gpu import GpuProbe, reset_torch_peaks, torch_peaks
        gpus = GpuProbe().read([], refresh=True)
        figures = [(g["torch_allocated"], g["torch_reserved"]) for g in gpus]
        print(json.dumps([figures, reset_torch_peaks(), torch_peaks(),
                          torch.cuda.is_initialized()]))
        """, os.environ["PATH"])
    assert result == [[[None, None], [None, None]], False, {}, False]


# --- a real kernel -------------------------------------------------------------------------
@pytest.mark.kernel
@pytest.mark.timeout(90)
def test_kernel_samples_carry_the_fake_gpus(smi, tmp_path):
    from kernel_session import KernelSession
    # The kernel inherits this environment: the fake first on PATH, one GPU visible.
    smi.write(TWO_GPUS, f"{{ppid}}, {T4}, 700\n1, {H100}, 5\n")
    os.environ["CUDA_VISIBLE_DEVICES"] = "1"
    try:
        kernel = KernelSession(tmp_path / "kernel")
    finally:
        del os.environ["CUDA_VISIBLE_DEVICES"]
    try:
        # NVML absent in the kernel too, so a GPU machine's real NVML cannot take over.
        kernel.execute("import sys; sys.modules['pynvml'] = None\n"
                       "%load_ext oomguard\nimport oomguard\noomguard.enable(interval=0.2)")
        comm = kernel.open_comm({"v": 1, "type": "open", "client": "pytest"})
        samples = kernel.wait_comm(comm, "sample", count=4, timeout=20)
        gpus = samples[-1]["gpus"]
        assert gpus == [{"index": 0, "uuid": T4, "name": "Tesla T4", "used": 0,
                         "total": 15360 * MiB, "process_used": 700 * MiB,
                         "torch_allocated": None, "torch_reserved": None,
                         "source": "nvidia-smi"}]
        assert kernel.evaluate("oomguard.snapshot()['gpus'][0]['uuid']") == T4
        assert kernel.evaluate("'torch' in sys.modules") is False
        assert len(smi.calls()) <= 4  # cached: not one process per 0.2 s sample
    finally:
        kernel.shutdown()


# --- a real GPU ------------------------------------------------------------------------------
def real_gpu_or_skip():
    if shutil.which("nvidia-smi") is None:
        pytest.skip("no NVIDIA GPU here: nvidia-smi not found")
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    if listed.returncode != 0 or "GPU 0" not in listed.stdout:
        pytest.skip(f"no NVIDIA GPU here: nvidia-smi -L failed ({listed.stdout.strip()[:100]})")
    return listed.stdout.count("GPU ")


@pytest.mark.gpu
def test_real_nvidia_smi(monkeypatch):
    count = real_gpu_or_skip()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", None)
    gpus, notes = read(GpuProbe())
    assert len(gpus) == count, notes
    assert all(g["source"] == "nvidia-smi" and g["total"] > 0 and 0 <= g["used"] <= g["total"]
               and g["uuid"].startswith("GPU-") for g in gpus)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", gpus[-1]["uuid"][:12])
    (only,), _ = read(GpuProbe())
    assert (only["index"], only["uuid"]) == (0, gpus[-1]["uuid"])


@pytest.mark.gpu
def test_real_nvml_agrees_with_nvidia_smi(monkeypatch):
    count = real_gpu_or_skip()
    pytest.importorskip("pynvml")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpus, notes = read(GpuProbe())
    assert len(gpus) == count and all(g["source"] == "nvml" for g in gpus), notes
    monkeypatch.setitem(sys.modules, "pynvml", None)
    smi_gpus, _ = read(GpuProbe())
    assert [(g["uuid"], g["total"] // MiB) for g in gpus] == \
        [(g["uuid"], g["total"] // MiB) for g in smi_gpus]


@pytest.mark.gpu
def test_real_torch_allocation_shows(monkeypatch):
    real_gpu_or_skip()
    pytest.importorskip("torch")
    result = run_python("""
        import json, time
        import torch
        from oomguard.probes.gpu import GpuProbe, reset_torch_peaks, torch_peaks
        probe = GpuProbe()
        before = probe.read([], refresh=True)[0]
        x = torch.ones(256 << 20, dtype=torch.uint8, device="cuda")
        torch.cuda.synchronize()
        after = probe.read([], refresh=True)[0]
        peak = torch_peaks()
        del x
        reset = reset_torch_peaks()
        print(json.dumps([before, after, peak, reset, torch_peaks()]))
        """, os.environ.get("PATH", ""))
    before, after, peak, reset, peak_after_reset = result
    MiB256 = 256 * MiB
    assert before["torch_allocated"] is None  # CUDA was not initialised yet
    assert after["torch_allocated"] >= MiB256 and after["torch_reserved"] >= MiB256
    assert after["used"] - before["used"] >= 0.9 * MiB256
    if after["process_used"] is not None:  # None where the driver hides pids (containers)
        assert after["process_used"] >= MiB256
    assert peak["0"] >= MiB256 and reset is True and peak_after_reset["0"] < MiB256
