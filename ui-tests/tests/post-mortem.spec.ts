/**
 * When the kernel dies mid-cell (here killed the way the OOM killer kills: SIGKILL),
 * the cell says so with the last readings, and the panel keeps the timeline. After
 * the restart the new kernel tells whether the cgroup's OOM-kill count rose, and sends
 * the dead kernel's spooled readings the browser missed (here: samples held back on
 * the kernel's websocket for a few seconds before the kill, like a network stall).
 */
import { expect, test } from '@jupyterlab/galata';
import {
  cellBadge,
  openMemoryPanel,
  panelPid,
  panelSection,
  waitForReading,
  waitForState
} from './helpers/panel';

/** An oomguard `sample` on the kernel's websocket (JSON or the binary v1 protocol). */
function isOomguardSample(frame: string | Buffer): boolean {
  const text = typeof frame === 'string' ? frame : frame.toString('utf8');
  return text.includes('comm_msg') && /"type":\s*"sample"/.test(text);
}

test.describe('Post-mortem', () => {
  // The server restarts the dead kernel; galata's kernel tracking must not get in the way.
  test.use({ kernels: null });

  test('marks the cell that was running when the kernel was killed', async ({ page }) => {
    let holdSamples = false;
    let held = 0;
    await page.routeWebSocket(/\/api\/kernels\/[^/]+\/channels/, ws => {
      const server = ws.connectToServer();
      server.onMessage(frame => {
        if (holdSamples && isOomguardSample(frame)) {
          held++;
          return;
        }
        ws.send(frame);
      });
      ws.onMessage(frame => server.send(frame));
    });
    // Routing patches the page's WebSocket when it loads: load JupyterLab again.
    await page.goto();

    // A retry runs in the same folder, where the first attempt's notebook is left.
    await page.notebook.createNew(`killed-${test.info().retry}.ipynb`, { kernel: 'python3' });
    await openMemoryPanel(page);
    await waitForReading(page);
    const pid = await panelPid(page);
    await page.notebook.setCell(
      0,
      'code',
      "hoard = b'\\x01' * (200 << 20)\nimport time\ntime.sleep(60)"
    );
    // The run never finishes: the kernel is killed under it.
    page.notebook.runCell(0).catch(() => undefined);
    const badge = cellBadge(page.locator('.jp-Notebook .jp-Cell').first());
    const cellPrompt = page.locator('.jp-Notebook .jp-Cell').first().locator('.jp-InputPrompt');
    await expect(badge).toContainText('running', { timeout: 20_000 });
    // Let a sample or two show the 200 MiB, then the browser stops receiving samples
    // (they still reach the kernel's spool), then the kill.
    await expect(badge).toContainText('kernel RAM', { timeout: 20_000 });
    holdSamples = true;
    await expect.poll(() => held, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    process.kill(pid, 'SIGKILL');
    holdSamples = false;

    await expect(badge).toHaveAttribute('data-state', 'died', { timeout: 60_000 });
    // Both figures, each called what it is: the session's use against its limit, and
    // this kernel's own memory. Under the cell it is "this cell": the prompt no longer
    // shows [1] once the kernel restarted.
    await expect(badge).toContainText(
      /The kernel died while this cell ran, with the session at [\d.]+ [MG]iB of its [\d.]+ [MG]iB limit \(this kernel: [\d.]+ [MG]iB\)/
    );
    // Elsewhere the cell is named by its place and first line, and the warnings list
    // links to it.
    const died = panelSection(page, 'Warnings').getByRole('button', {
      name: /^Kernel died in cell 1 of \d+ \("hoard = b'\\x01' \* \(200 << 20\)"\)/
    });
    await expect(died).toContainText(/The kernel died while cell 1 of \d+ \("hoard = /);
    // The panel follows the restarted kernel (its status said the death until then).
    await expect.poll(() => panelPid(page), { timeout: 60_000 }).not.toBe(pid);
    await waitForState(page, 'connected');
    // The new kernel sent the readings the browser missed, and the badge's figures are
    // the spool's last one.
    await expect(badge).toContainText(
      /Readings the browser missed, recovered from the kernel's spool: [1-9]\d*; the figures above are its last reading\./,
      { timeout: 60_000 }
    );
    // No OOM killer here (a plain SIGKILL): whether its count rose is said plainly, from
    // the counter where this machine has one.
    await expect(badge).toContainText(
      /Out of memory not confirmed: the OOM-kill count in memory\.(events|oom_control) did not rise|Out of memory unknown: no OOM-kill counter/
    );
    await expect(badge).not.toContainText('confirmed by');
    // The timeline stays: the last reading before the death is still shown.
    await expect(page.locator('#jp-oomguard-panel .jp-oomguard-rss')).not.toHaveText('—');
    await expect(cellPrompt).toHaveText('[ ]:');
    // JupyterLab's own "Kernel Restarting" dialog may still be up: close it first.
    const restarting = page.getByRole('dialog', { name: /^Kernel Restarting/ });
    if (await restarting.isVisible()) {
      await restarting.getByRole('button', { name: /^Ok$/i }).click();
    }
    await died.click();
    await expect(page.locator('.jp-Notebook .jp-Cell').first()).toHaveClass(/jp-mod-active/);
  });
});
