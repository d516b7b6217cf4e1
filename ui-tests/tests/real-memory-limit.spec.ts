/**
 * Under a real memory limit: each test's kernel runs in its own cgroup v1 memory group
 * of 2 GiB (helpers/cgroup.ts), where the kernel's own OOM killer acts. The panel shows
 * that limit and where it comes from; a cell the OOM killer kills gets the post-mortem,
 * confirmed by the group's own count. systeminformation and the group's files are the
 * independent oracles, read in the test process. Skipped, saying why, where no such
 * group can be made (not root, no writable v1 memory controller, cgroup v2).
 */
import { expect, test } from '@jupyterlab/galata';
import { CGROUP_KERNEL, GiB, MemoryCgroup } from './helpers/cgroup';
import { agrees, processRssBytes } from './helpers/memory';
import {
  MiB,
  nextReading,
  cellBadge,
  openMemoryPanel,
  panelPid,
  panelSection,
  parseShownBytes,
  waitForReading,
  waitForState
} from './helpers/panel';

const unavailable = MemoryCgroup.unavailable();

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
    await page.notebook.createNew('limit.ipynb', { kernel: CGROUP_KERNEL });
    const panel = await openMemoryPanel(page);
    await waitForReading(page);
    const pid = await panelPid(page);
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
    await page.notebook.createNew('killed.ipynb', { kernel: CGROUP_KERNEL });
    await openMemoryPanel(page);
    await waitForReading(page);
    const pid = await panelPid(page);
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
    const badge = cellBadge(page.locator('.jp-Notebook .jp-Cell').nth(index));

    await expect(badge).toHaveAttribute('data-state', 'died', { timeout: 60_000 });
    expect(group.oomKills()).toBe(killsBefore + 1); // the kernel's own count: it was the OOM killer
    // Under the cell itself: its prompt no longer shows [2] once the kernel restarted.
    await expect(badge).toContainText(
      /The kernel died while this cell ran, with the session at [\d.]+ [MG]iB of its 2\.0 GiB limit/
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
});
