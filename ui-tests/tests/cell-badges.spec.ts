/**
 * The badge under each executed cell: what the run cost, kept with the cell when it
 * moves, replaced when it runs again.
 */
import { expect, test } from '@jupyterlab/galata';
import { waitForReading, openMemoryPanel } from './helpers/panel';

function badgeOfCell(page: any, index: number) {
  return page.locator('.jp-Notebook .jp-Cell').nth(index).locator('.jp-oomguard-badge');
}

test.describe('Cell badges', () => {
  test.beforeEach(async ({ page }) => {
    await page.notebook.createNew('badges.ipynb', { kernel: 'python3' });
    await openMemoryPanel(page);
    await waitForReading(page);
  });

  test('shows what a cell cost, and follows it when it moves', async ({ page }) => {
    await page.notebook.setCell(0, 'code', "big = b'\\x01' * (200 << 20)");
    await page.notebook.addCell('code', 'small = 1');
    await page.notebook.runCell(0);
    await page.notebook.runCell(1);
    await expect(badgeOfCell(page, 0)).toContainText(/RAM \+(19\d|20\d) MiB · peak \+/);
    await expect(badgeOfCell(page, 1)).toContainText('RAM +');
    const first = await badgeOfCell(page, 0).textContent();

    // Move the big cell below the small one: its badge goes with it.
    await page.notebook.selectCells(0);
    await page.evaluate(() =>
      (window as any).jupyterapp.commands.execute('notebook:move-cell-down')
    );
    await expect(page.locator('.jp-Notebook .jp-Cell').nth(1)).toContainText('big =');
    await expect(badgeOfCell(page, 1)).toHaveText(first as string);

    // Run it again: one badge, the new run's figures (the memory is already held).
    await page.notebook.runCell(1);
    await expect(badgeOfCell(page, 1)).toHaveCount(1);
    await expect(badgeOfCell(page, 1)).not.toHaveText(first as string);
  });

  test('is live while the cell runs', async ({ page }) => {
    await page.notebook.setCell(0, 'code', 'import time; time.sleep(4)');
    const run = page.notebook.runCell(0);
    await expect(badgeOfCell(page, 0)).toContainText('running', { timeout: 10_000 });
    await expect(badgeOfCell(page, 0)).toContainText('kernel RAM', { timeout: 10_000 });
    await run;
    await expect(badgeOfCell(page, 0)).toContainText(/RAM [+-]/);
  });
});

test.describe('A badged cell', () => {
  test('looks right', async ({ page }) => {
    await page.notebook.createNew('badged.ipynb', { kernel: 'python3' });
    await openMemoryPanel(page);
    await waitForReading(page);
    await page.notebook.setCell(0, 'code', 'held = bytearray(300 << 20)');
    await page.notebook.runCell(0);
    const cell = page.locator('.jp-Notebook .jp-Cell').first();
    await expect(cell.locator('.jp-oomguard-badge')).toContainText(/^RAM \+30\d MiB/);
    // Leave the editor so no cursor blinks in the picture.
    await page.keyboard.press('Escape');
    // The figures move by a digit or two between runs (duration, page rounding):
    // tolerate that, not a missing or misplaced badge.
    expect(await cell.screenshot({ animations: 'disabled' })).toMatchSnapshot(
      'badged-cell.png',
      { maxDiffPixels: 400 }
    );
  });
});
