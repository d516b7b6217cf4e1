/**
 * The processes a kernel started (a Dask LocalCluster's nannies and workers), read from
 * /proc, so that a test can make sure none outlives it.
 */
import * as fs from 'fs';

/** A process as /proc names it: its pid and its start time (pids are reused). */
export interface IProcess {
  pid: number;
  start: string;
  command: string;
}

/** pid, parent pid and start time of a process, or null when it is gone. */
function stat(pid: number): { ppid: number; start: string } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command (field 2) may hold spaces and parentheses: read after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), start: fields[19] };
  } catch {
    return null;
  }
}

function command(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Every process descended from `root` now (children, theirs, ...), `root` left out. */
export function descendants(root: number): IProcess[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    const info = Number.isInteger(pid) ? stat(pid) : null;
    if (info) {
      children.set(info.ppid, [...(children.get(info.ppid) ?? []), pid]);
    }
  }
  const found: IProcess[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const pid = queue.shift() as number;
    const info = stat(pid);
    if (info) {
      found.push({ pid, start: info.start, command: command(pid) });
      queue.push(...(children.get(pid) ?? []));
    }
  }
  return found;
}

/** Those of `processes` still running (the same process: same pid and start time). */
export function stillRunning(processes: IProcess[]): IProcess[] {
  return processes.filter(one => {
    const info = stat(one.pid);
    // A zombie has exited; only its parent's wait is missing.
    return info !== null && info.start === one.start && !isZombie(one.pid);
  });
}

function isZombie(pid: number): boolean {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/**
 * Wait up to `graceMs` for `processes` to end on their own, then SIGKILL those left.
 * Returns the ones that had to be killed.
 */
export async function endAll(processes: IProcess[], graceMs = 15_000): Promise<IProcess[]> {
  const deadline = Date.now() + graceMs;
  while (stillRunning(processes).length && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 250));
  }
  const left = stillRunning(processes);
  for (const one of left) {
    try {
      process.kill(one.pid, 'SIGKILL');
    } catch {
      // ended meanwhile
    }
  }
  return left;
}
