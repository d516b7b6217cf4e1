/**
 * Process memory helpers for UI tests (reads the OS view, not oomguard's).
 */
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import * as si from 'systeminformation';

/**
 * Resident set size of a process, in bytes, or null if no such process.
 *
 * systeminformation reports `memRss` in KiB.
 */
export async function processRssBytes(pid: number): Promise<number | null> {
  const { list } = await si.processes();
  const proc = list.find(p => p.pid === pid);
  return proc ? proc.memRss * 1024 : null;
}

/** The host's memory as the operating system tells it (MemTotal, MemAvailable). */
export async function hostMemory(): Promise<{ total: number; available: number }> {
  const { total, available } = await si.mem();
  return { total, available };
}

const MiB = 2 ** 20;

/**
 * Whether a figure the panel shows agrees with an independent reading of the same thing:
 * within the range of `readings` (taken just before and after the panel's), widened by
 * 5% or 8 MiB, whichever is more, and by what the panel's rounding hides.
 */
export function agrees(shown: number, readings: number[], rounding = 0): boolean {
  const low = Math.min(...readings);
  const high = Math.max(...readings);
  const slack = Math.max(0.05 * high, 8 * MiB) + rounding;
  return shown >= low - slack && shown <= high + slack;
}

/**
 * PID of the kernel of the active notebook, obtained by running
 * `os.getpid()` in a new cell appended at the end of the notebook.
 * The cell is left in place; callers that care can delete it.
 */
export async function kernelPid(page: IJupyterLabPageFixture): Promise<number> {
  await page.notebook.addCell('code', 'import os; os.getpid()');
  const index = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(index);
  const outputs = await page.notebook.getCellTextOutput(index);
  const pid = Number.parseInt((outputs ?? [''])[0], 10);
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new Error(`Could not read the kernel PID, got ${JSON.stringify(outputs)}`);
  }
  return pid;
}
