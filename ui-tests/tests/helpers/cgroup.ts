/**
 * A real memory limit for UI tests: a cgroup v1 memory group made under the test
 * process's own, where the kernel's OOM killer acts and counts (the same harness as
 * python_shim/tests/real_cgroup.py, from the test process).
 *
 * The kernel spec `python3-memory-cgroup` (jupyter-data/kernels/) starts its kernel
 * through python_shim/tests/enter_cgroup.py, which enters the group named in
 * `memory-cgroup.txt` in the notebook's folder before ipykernel starts: `enter()` writes
 * that file, so each test has its own group, and a kernel the server restarts after a
 * kill is in it again.
 *
 * Names: `oomguard-<tag>-ui-<run>-<pid>-<n>` (tag: $OOMGUARD_CGROUP_TAG, default
 * "tests"; run: the Playwright run, see playwright.config.js), so that concurrent runs
 * never meet; the global teardown (cgroupTeardown.ts) removes what a crashed worker of
 * this run left behind.
 */
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import * as fs from 'fs';
import * as path from 'path';

export const GiB = 2 ** 30;
const MOUNT = '/sys/fs/cgroup/memory';
/** The file in the notebook's folder naming the group (enter_cgroup.py --cgroup-file). */
export const CGROUP_FILE = 'memory-cgroup.txt';
/** The kernel spec whose kernels enter that group. */
export const CGROUP_KERNEL = 'python3-memory-cgroup';

/** The directory of this process's v1 memory cgroup; throws, saying why, where none. */
export function ownMemoryCgroup(): string {
  if (process.platform !== 'linux') {
    throw new Error('memory cgroups are Linux only');
  }
  const lines = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const line = lines.find(l => l.split(':')[1]?.split(',').includes('memory'));
  if (!line) {
    const v2 = lines.some(l => l.startsWith('0::'));
    throw new Error(
      'no cgroup v1 memory controller' + (v2 ? ' (cgroup v2 only)' : '')
    );
  }
  const dir = path.join(MOUNT, line.split(':').slice(2).join(':'));
  if (!fs.existsSync(path.join(dir, 'memory.limit_in_bytes'))) {
    throw new Error(`this process's memory cgroup is not visible at ${dir}`);
  }
  return dir;
}

/** Prefix of every group this Playwright run makes. */
export function runPrefix(): string {
  const tag = process.env.OOMGUARD_CGROUP_TAG || 'tests';
  return `oomguard-${tag}-ui-${process.env.OOMGUARD_UI_TESTS_RUN ?? process.pid}-`;
}

let made = 0;

export class MemoryCgroup {
  /** Make a group with `limit` bytes; throws, saying why, where it cannot be done. */
  static make(limit: number): MemoryCgroup {
    const parent = ownMemoryCgroup();
    const dir = path.join(parent, `${runPrefix()}${process.pid}-${++made}`);
    try {
      fs.mkdirSync(dir);
    } catch (error) {
      const root = process.getuid?.() === 0 ? '' : '; not root';
      throw new Error(`cannot make a memory cgroup in ${parent} (${error}${root})`);
    }
    const group = new MemoryCgroup(dir);
    try {
      group._write('memory.limit_in_bytes', limit);
      // Where the machine has swap, the kernel would swap instead of being killed.
      if (fs.existsSync(path.join(dir, 'memory.memsw.limit_in_bytes'))) {
        group._write('memory.memsw.limit_in_bytes', limit);
      }
    } catch (error) {
      void group.remove();
      throw new Error(`cannot set a memory limit in ${dir} (${error})`);
    }
    return group;
  }

  /** Why a real memory cgroup cannot be made here (tried once), or null. */
  static unavailable(): string | null {
    if (probed === undefined) {
      try {
        const group = MemoryCgroup.make(64 * 2 ** 20);
        fs.rmdirSync(group.path);
        probed = null;
      } catch (error) {
        probed = (error as Error).message;
      }
    }
    return probed;
  }

  private constructor(readonly path: string) {}

  /** Make the kernels of notebooks in `folder` (server-relative) start in this group. */
  async enter(page: IJupyterLabPageFixture, folder: string): Promise<void> {
    await page.contents.uploadContent(this.path, 'text', `${folder}/${CGROUP_FILE}`);
  }

  pids(): number[] {
    try {
      return this._read('cgroup.procs').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** memory.oom_control's oom_kill: processes of the group the OOM killer ended. */
  oomKills(): number {
    return keyValues(this._read('memory.oom_control')).oom_kill;
  }

  /** Usage less inactive page cache: the working set, as oomguard counts it. */
  workingSet(): number {
    const usage = Number(this._read('memory.usage_in_bytes'));
    return usage - (keyValues(this._read('memory.stat')).total_inactive_file ?? 0);
  }

  /** Kill what is left in the group and remove it, retrying while tasks leave. */
  async remove(timeoutMs = 10_000): Promise<void> {
    await removeGroup(this.path, timeoutMs);
  }

  private _read(name: string): string {
    return fs.readFileSync(path.join(this.path, name), 'utf8');
  }

  private _write(name: string, value: number): void {
    fs.writeFileSync(path.join(this.path, name), String(value));
  }
}

let probed: string | null | undefined;

/** SIGKILL every process in the group at `dir`, then rmdir it (idempotent). */
export async function removeGroup(dir: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!fs.existsSync(dir)) {
      return;
    }
    let pids: number[] = [];
    try {
      pids = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
        .split('\n').filter(Boolean).map(Number);
    } catch {
      // gone meanwhile
    }
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      if (!pids.length) {
        fs.rmdirSync(dir);
        return;
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        return;
      }
      if (code !== 'EBUSY' || Date.now() > deadline) {
        throw error;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`processes ${pids} stay in ${dir}`);
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
}

function keyValues(text: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [key, value] = line.split(' ');
    if (key && /^\d+$/.test(value ?? '')) {
      found[key] = Number(value);
    }
  }
  return found;
}
