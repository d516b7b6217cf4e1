/**
 * The Memory panel's warnings list: what oomguard warned about in this notebook, each
 * entry a link to its cell.
 */
import { expect, test } from '@jupyterlab/galata';
import { openMemoryPanel, panelSection, waitForReading } from './helpers/panel';

const RISKY = 'x = np.zeros((200000, 200000))  # 298 GiB of float64';

test('lists a blocked cell and scrolls back to it', async ({ page }) => {
  await page.notebook.createNew('warned.ipynb', { kernel: 'python3' });
  await openMemoryPanel(page);
  await waitForReading(page);
  await page.notebook.setCell(
    0,
    'code',
    "import numpy as np, oomguard\noomguard.enable(mode='block')"
  );
  await page.notebook.runCell(0);
  await page.notebook.addCell('code', RISKY);
  const risky = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(risky);
  // Some cells after it, so the list has somewhere to bring the user back from.
  for (let i = 0; i < 6; i++) {
    await page.notebook.addCell('code', `after_${i} = ${i}`);
  }
  await page.notebook.selectCells((await page.notebook.getCellCount()) - 1);

  // The entry names the cell as the notebook shows it: its place, its first line.
  const entry = panelSection(page, 'Warnings').getByRole('button', {
    name: new RegExp(`^Blocked before it ran: cell ${risky + 1} of \\d+ \\("x = np\\.zeros`)
  });
  await expect(entry).toHaveCount(1);
  await expect(entry).toContainText(/Line 1: 29\d GiB predicted on cpu/);
  // From the keyboard: focus the entry, press Enter.
  await entry.focus();
  await page.keyboard.press('Enter');

  const cell = page.locator('.jp-Notebook .jp-Cell').nth(risky);
  await expect(cell).toHaveClass(/jp-mod-active/);
  await expect(cell).toBeInViewport();
  expect(await page.notebook.getCellTextOutput(risky)).toEqual(
    expect.arrayContaining([expect.stringContaining('Nothing ran')])
  );
});
