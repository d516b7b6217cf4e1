/**
 * A cell predicted to exceed free memory gets a banner before it runs; in block mode
 * it does not run until the user says "Run anyway".
 */
import { expect, test } from '@jupyterlab/galata';
import { cellBadge, cellBanner, openMemoryPanel, waitForReading } from './helpers/panel';

const BIG_CELL = ['import numpy as np', 'n = 15_000', 'grid = np.ones((n, n))  # 1.7 GiB'].join('\n');

function cellAt(page: any, index: number) {
  return page.locator('.jp-Notebook .jp-Cell').nth(index);
}

test.describe('Pre-run warnings', () => {
  test.beforeEach(async ({ page }) => {
    await page.notebook.createNew('guarded.ipynb', { kernel: 'python3' });
    await openMemoryPanel(page);
    await waitForReading(page);
  });

  for (const mode of ['block', 'warn']) {
    test(`${mode} mode: the banner says what, where, and what is free`, async ({ page }) => {
      // A session limit below what is in use, so nothing is free whatever this machine
      // does meanwhile. (It was the use at the time plus 512 MiB: but what counts
      // against a limit set by hand is the machine's or container's use, which other
      // processes move — other tests' kernels ending freed more than 1.2 GiB, the 1.7 GiB
      // cell fitted, and it ran without a banner in block mode.)
      await page.notebook.setCell(
        0,
        'code',
        `import oomguard\noomguard.enable(mode='${mode}', watchdog=False, limit=64 << 20)`
      );
      await page.notebook.addCell('code', BIG_CELL);
      await page.notebook.runCell(0);
      await page.notebook.runCell(1);

      const banner = cellBanner(cellAt(page, 1));
      await expect(banner).toHaveAttribute('data-mode', mode);
      await expect(banner).toContainText(/Line 3: 1\.[67] GiB predicted on cpu, 0 B free\./);
      const defined = async () => {
        await page.notebook.addCell('code', "'grid' in globals()");
        const last = (await page.notebook.getCellCount()) - 1;
        await page.notebook.runCell(last);
        return (await page.notebook.getCellTextOutput(last))?.[0];
      };
      if (mode === 'warn') {
        await expect(banner.getByRole('button', { name: 'Run anyway' })).toHaveCount(0);
        expect(await defined()).toBe('True');
        return;
      }
      await expect(cellAt(page, 1).locator('.jp-OutputArea')).toContainText('Nothing ran; your variables are unchanged.');
      expect(await defined()).toBe('False');

      // From the keyboard: Tab to "Run anyway", Enter.
      const runAnyway = banner.getByRole('button', { name: 'Run anyway' });
      await runAnyway.focus();
      await page.keyboard.press('Enter');
      await expect(cellBadge(cellAt(page, 1))).toContainText(/RAM \+1\.[5-7] GiB/, {
        timeout: 60_000
      });
      await expect(cellBanner(cellAt(page, 1))).toHaveCount(0);
      expect(await defined()).toBe('True');
    });
  }
});
