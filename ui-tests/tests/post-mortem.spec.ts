/**
 * When the kernel dies mid-cell (here killed the way the OOM killer kills: SIGKILL),
 * the cell says so with the last readings, and the panel keeps the timeline.
 */
import { expect, test } from '@jupyterlab/galata';
import { openMemoryPanel, panelPid, waitForReading } from './helpers/panel';

test.describe('Post-mortem', () => {
  // The server restarts the dead kernel; galata's kernel tracking must not get in the way.
  test.use({ kernels: null });

  test('marks the cell that was running when the kernel was killed', async ({ page }) => {
    await page.notebook.createNew('killed.ipynb', { kernel: 'python3' });
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
    const badge = page.locator('.jp-Notebook .jp-Cell').first().locator('.jp-oomguard-badge');
    await expect(badge).toContainText('running', { timeout: 20_000 });
    // Let a sample or two show the 200 MiB, then kill like the OOM killer.
    await expect(badge).toContainText('kernel RAM', { timeout: 20_000 });
    await page.waitForTimeout(1500);
    process.kill(pid, 'SIGKILL');

    await expect(badge).toHaveAttribute('data-state', 'died', { timeout: 60_000 });
    await expect(badge).toContainText(/The kernel died while cell \[1\] ran at [\d.]+ [MG]iB of a/);
    await expect(page.locator('#jp-oomguard-panel .jp-oomguard-status')).toContainText(
      'The kernel died while cell [1] ran'
    );
    // The timeline stays: the last reading before the death is still shown.
    await expect(page.locator('#jp-oomguard-panel .jp-oomguard-rss')).not.toHaveText('—');
  });
});
