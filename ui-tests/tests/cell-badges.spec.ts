/**
 * The badge under each executed cell: what the run cost, kept with the cell when it
 * moves, replaced when it runs again.
 */
import { expect, galata, test } from '@jupyterlab/galata';
import { cellBadge, openMemoryPanel, waitForReading } from './helpers/panel';

function badgeOfCell(page: any, index: number) {
  return cellBadge(page.locator('.jp-Notebook .jp-Cell').nth(index));
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
    await expect(cellBadge(cell)).toContainText(/^RAM \+30\d MiB/);
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

test.describe('Badges with full notebook windowing', () => {
  // Cells scrolled out of view are detached from the page and attached again later.
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      '@jupyterlab/notebook-extension:tracker': { windowingMode: 'full' }
    }
  });

  test('keeps a badge when its cell scrolls out of view and back', async ({
    page,
    tmpPath
  }) => {
    // One code cell, then sixty long markdown cells: far more than a screen.
    const filler = Array.from({ length: 60 }, (_, i) => ({
      cell_type: 'markdown',
      id: `filler-${i}`,
      metadata: {},
      source: [`## Filler ${i + 1}\n\n`, 'text '.repeat(200)]
    }));
    const notebook = {
      cells: [
        {
          cell_type: 'code',
          execution_count: null,
          id: 'head',
          metadata: {},
          outputs: [],
          source: ["head = b'\\x01' * (150 << 20)"]
        },
        ...filler
      ],
      metadata: {
        kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' }
      },
      nbformat: 4,
      nbformat_minor: 5
    };
    await page.contents.uploadContent(JSON.stringify(notebook), 'text', `${tmpPath}/long.ipynb`);
    await page.notebook.openByPath(`${tmpPath}/long.ipynb`);
    await page.notebook.activate('long.ipynb');
    await openMemoryPanel(page);
    await waitForReading(page);
    await page.notebook.runCell(0);
    const badge = badgeOfCell(page, 0);
    await expect(badge).toContainText(/RAM \+1[45]\d MiB/);
    const shown = await badge.textContent();
    const first = page.locator('.jp-Notebook .jp-Cell[data-windowed-list-index="0"]');
    // Far down: the first cell is out of view (windowed: its node may be detached).
    await page.notebook.selectCells(60);
    await page.keyboard.press('Control+End');
    await expect(first).not.toBeInViewport();
    // Back up: the cell is drawn again, with the same badge.
    await page.notebook.selectCells(0);
    await page.keyboard.press('Control+Home');
    await expect(first).toBeInViewport();
    await expect(cellBadge(first)).toHaveText(shown as string);
    await expect(page.getByRole('status', { name: 'Memory of this cell (oomguard)' })).toHaveCount(1);
  });
});
