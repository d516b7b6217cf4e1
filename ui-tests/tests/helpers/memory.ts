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
