/**
 * Under a real memory limit: each test's kernel runs in its own cgroup v1 memory group
 * of 2 GiB (helpers/cgroup.ts), where the kernel's own OOM killer acts. The panel shows
 * that limit and where it comes from; a cell the OOM killer kills gets the post-mortem,
 * confirmed by the group's own count. systeminformation and the group's files are the
 * independent oracles, read in the test process. Skipped, saying why, where no such
 * group can be made (not root, no writable v1 memory controller, cgroup v2).
 */
import { expect, test } from '@jupyterlab/galata';
import * as fs from 'fs';
import { CGROUP_KERNEL, GiB, MemoryCgroup } from './helpers/cgroup';
import { agrees, processRssBytes } from './helpers/memory';
import {
  MiB,
  nextReading,
  cellBadge,
  cellBanner,
  memoryPanel,
  openMemoryPanel,
  panelPid,
  panelSection,
  panelStatus,
  parseShownBytes,
  waitForReading,
  waitForState
} from './helpers/panel';

const unavailable = MemoryCgroup.unavailable();

/** A loop that runs the kernel into its limit (64 MiB a step, written). */
const HOARD = "hoard = []\nwhile True:\n    hoard.append(b'\\x01' * (64 << 20))";

/** Kernels killed in a row by the OOM-kills test: 3 in CI, OOMGUARD_UI_KILLS to run more. */
const KILLS = Number(process.env.OOMGUARD_UI_KILLS || 3);

/** A new notebook on the kernel in the group, the panel open on its first reading: its pid. */
async function limitedNotebook(page: any, name: string): Promise<number> {
  await page.notebook.createNew(name, { kernel: CGROUP_KERNEL });
  await openMemoryPanel(page);
  await waitForReading(page);
  return panelPid(page);
}

function cellAt(page: any, index: number) {
  return page.locator('.jp-Notebook .jp-Cell').nth(index);
}

/** Run the cell at `index` without waiting for it: its kernel is about to be killed. */
async function startCell(page: any, index: number) {
  await page.notebook.selectCells(index);
  await page.evaluate(() => {
    void (window as any).jupyterapp.commands.execute('notebook:run-cell');
  });
}

/** JupyterLab's "the kernel appears to have died" dialog, once it shows: dismissed. */
async function dismissDeathDialog(page: any) {
  const dialog = page.locator('.jp-Dialog');
  await dialog.waitFor({ timeout: 15_000 }).catch(() => undefined);
  if (await dialog.count()) {
    await dialog.locator('.jp-mod-accept').first().click();
  }
}

/** When process `pid` started (ms since the epoch), from /proc: its stat and the boot time. */
function startedAt(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  const boot = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))![1]);
  return (boot + ticks / 100) * 1000; // USER_HZ is 100 on Linux
}

/** A pid in the group other than `old`: the kernel the server started after a kill. */
function newKernel(group: MemoryCgroup, old: number): number | null {
  return group.pids().find(pid => pid !== old) ?? null;
}

test.describe('Under a real memory limit (cgroup v1)', () => {
  test.skip(unavailable !== null, `no real memory limit here: ${unavailable}`);
  // The server restarts a killed kernel; galata's kernel tracking must not get in the way.
  test.use({ kernels: null });

  let group: MemoryCgroup;

  test.beforeEach(async ({ page, tmpPath }) => {
    group = MemoryCgroup.make(2 * GiB);
    await group.enter(page, tmpPath);
  });

  test.afterEach(async ({ page, tmpPath }) => {
    // Shut the test's kernels down through the server first, so that it does not restart
    // them into the group while it is removed; then whatever is left goes with the group.
    const sessions = await (await page.request.get('/api/sessions')).json();
    for (const session of sessions) {
      if (String(session.path).startsWith(`${tmpPath}/`)) {
        await page.request.delete(`/api/sessions/${session.id}`);
      }
    }
    await group.remove();
  });

  test('the panel shows the real limit, where it comes from, and agrees with the system', async ({
    page
  }) => {
    const pid = await limitedNotebook(page, 'limit.ipynb');
    const panel = memoryPanel(page);
    expect(group.pids()).toContain(pid);
    await expect(panelSection(page, 'Kernel RAM')).toContainText(
      'of the 2.0 GiB session limit (cgroup v1)'
    );
    await page.notebook.setCell(0, 'code', "block = b'\\x01' * (256 << 20)");
    await page.notebook.runCell(0);

    // Kernel RAM: systeminformation's reading of the same pid, taken around the panel's.
    const before = await processRssBytes(pid);
    const shown = await nextReading(page);
    const after = await processRssBytes(pid);
    expect(shown).toBeGreaterThan(256 * MiB);
    expect(agrees(shown, [before as number, after as number])).toBe(true);
    // Session in use: the group's own working set (usage less inactive page cache).
    const sessionUse = panel
      .locator('.jp-oomguard-detail', { hasText: 'Session in use' })
      .locator('.jp-oomguard-detail-value');
    let used = 0;
    await expect
      .poll(async () => {
        used = group.workingSet();
        const { value, rounding } = parseShownBytes(await sessionUse.textContent());
        return agrees(value, [used, group.workingSet()], rounding);
      })
      .toBe(true);
    console.log(
      `kernel RAM: panel ${(shown / MiB).toFixed(1)} MiB, systeminformation ` +
        `${((before as number) / MiB).toFixed(1)}–${((after as number) / MiB).toFixed(1)} MiB; ` +
        `session in use: panel ${await sessionUse.textContent()}, cgroup ${(used / MiB).toFixed(1)} MiB`
    );
  });

  test('a cell killed by the real OOM killer gets the post-mortem, out of memory confirmed', async ({
    page
  }) => {
    const pid = await limitedNotebook(page, 'killed.ipynb');
    // The watchdog would stop the loop (that is its job): off, so the OOM killer acts.
    await page.notebook.setCell(
      0,
      'code',
      'import oomguard\noomguard.enable(watchdog=None)\nkept = "defined before"'
    );
    await page.notebook.runCell(0);
    await page.notebook.addCell(
      'code',
      "hoard = []\nwhile True:\n    hoard.append(b'\\x01' * (64 << 20))"
    );
    const index = (await page.notebook.getCellCount()) - 1;
    const killsBefore = group.oomKills();
    // The run never finishes: the kernel is killed under it.
    page.notebook.runCell(index).catch(() => undefined);
    const badge = cellBadge(cellAt(page, index));

    await expect(badge).toHaveAttribute('data-state', 'died', { timeout: 60_000 });
    expect(group.oomKills()).toBe(killsBefore + 1); // the kernel's own count: it was the OOM killer
    // Under the cell itself: its prompt no longer shows [2] once the kernel restarted.
    await expect(badge).toContainText(
      /The kernel died while this cell ran(, with the session at|, after the session reached) [\d.]+ [MG]iB of its 2\.0 GiB limit/
    );
    // The server restarts the kernel into the same group; its hello carries the count.
    await expect.poll(() => panelPid(page), { timeout: 60_000 }).not.toBe(pid);
    await waitForState(page, 'connected');
    expect(group.pids()).toContain(await panelPid(page));
    await expect(badge).toContainText(
      "The OOM killer ended a process in this kernel's memory cgroup (which may hold other kernels too) — confirmed by memory.oom_control.",
      { timeout: 60_000 }
    );
    await expect(badge).not.toContainText('not confirmed');
    console.log(`post-mortem: ${await badge.textContent()}`);
  });

  test('by default an exact allocation that cannot fit is blocked; Run anyway runs it', async ({
    page
  }) => {
    const pid = await limitedNotebook(page, 'auto.ipynb');
    await page.notebook.setCell(0, 'code', "import numpy as np\nkept = 'defined before'");
    await page.notebook.addCell('code', 'x = np.ones(int(2.5 * 2**30 / 8))');
    await page.notebook.addCell('code', 'print(kept)');
    await page.notebook.runCell(0);
    await page.notebook.runCell(1);

    const banner = cellBanner(cellAt(page, 1));
    await expect(banner).toHaveAttribute('data-mode', 'block');
    await expect(banner).toHaveAttribute('data-setting', 'auto');
    await expect(banner).toContainText('its exact size cannot fit in what the session can have');
    await expect(banner).toContainText(/Line 1: 2\.5 GiB predicted on cpu \(exact size\), [12]\.\d GiB free\./);
    await expect(banner.locator('code')).toHaveText(
      'oomguard.enable(hard_cap=True)'
    );
    await expect(cellAt(page, 1).locator('.jp-OutputArea')).toContainText(
      'Nothing ran; your variables are unchanged.'
    );
    // The kernel and its variables live.
    await page.notebook.runCell(2);
    await expect(cellAt(page, 2).locator('.jp-OutputArea')).toContainText('defined before');
    expect(group.oomKills()).toBe(0);
    expect(await panelPid(page)).toBe(pid);
    console.log(`blocked: ${await banner.textContent()}`);

    // Run anyway: the cell runs; without the cap, as the banner said, nothing stops one
    // call of 2.5 GiB in a 2 GiB limit: the OOM killer takes the kernel.
    const killsBefore = group.oomKills();
    await banner.getByRole('button', { name: 'Run anyway' }).click();
    const badge = cellBadge(cellAt(page, 1));
    await expect(badge).toHaveAttribute('data-state', 'died', { timeout: 60_000 });
    await expect.poll(() => group.oomKills(), { timeout: 30_000 }).toBe(killsBefore + 1);
    await expect.poll(() => panelPid(page), { timeout: 60_000 }).not.toBe(pid);
    await waitForState(page, 'connected');
    await expect(badge).toContainText('confirmed by memory.oom_control', { timeout: 60_000 });
    // The figure is the group's own high-water mark, not the last sample (a second
    // before the call, at the kernel's baseline).
    await expect(badge).toContainText(
      "after the session reached 2.0 GiB of its 2.0 GiB limit (the memory cgroup's high-water mark, memory.max_usage_in_bytes"
    );
    console.log(`run anyway, then: ${await badge.textContent()}`);
  });

  test(`${KILLS} OOM kills in a row: the panel reconnects and confirms each`, async ({
    page
  }) => {
    // Each kernel lives over 10 s before it is killed: the server's restarter gives up
    // after 5 restarts of kernels that die sooner (jupyter_client's stable_start_time).
    test.setTimeout(60_000 + KILLS * 45_000);
    let pid = await limitedNotebook(page, 'kills.ipynb');
    await page.notebook.setCell(0, 'code', 'import oomguard\noomguard.enable(watchdog=None)');
    await page.notebook.addCell('code', HOARD);
    const badge = cellBadge(cellAt(page, 1));
    const took: number[] = [];
    let born = startedAt(pid);
    for (let kill = 1; kill <= KILLS; kill++) {
      await page.notebook.runCell(0); // the watchdog off, so that the OOM killer acts
      const kills = group.oomKills();
      await page.waitForTimeout(Math.max(0, born + 11_000 - Date.now()));
      await startCell(page, 1);
      await expect.poll(() => group.oomKills(), { timeout: 60_000 }).toBe(kills + 1);
      await dismissDeathDialog(page);
      let next: number | null = null;
      await expect
        .poll(() => (next = newKernel(group, pid)), { timeout: 60_000, intervals: [100] })
        .not.toBeNull();
      born = startedAt(next as unknown as number);
      // Back within seconds of the new kernel's start (its own start-up, a few seconds
      // on this machine, included): the new pid, connected, the death confirmed.
      await expect.poll(() => panelPid(page), { timeout: 30_000, intervals: [100] }).toBe(next);
      await waitForState(page, 'connected', 30_000);
      await expect(badge).toContainText('confirmed by memory.oom_control', { timeout: 30_000 });
      took.push((Date.now() - born) / 1000);
      pid = next as unknown as number;
      // Connected, the status says nothing: no stale "has not answered" (a status with
      // no message is hidden, so out of the accessibility tree).
      await expect(panelStatus(page)).toBeHidden();
    }
    console.log(
      `${KILLS} OOM kills: reconnected and confirmed ${took.length} times, ` +
        `${Math.min(...took).toFixed(1)}–${Math.max(...took).toFixed(1)} s after the new ` +
        `kernel process appeared (each: ${took.map(t => t.toFixed(1)).join(', ')} s)`
    );
  });
});
