/**
 * Per-cell records in the notebook's metadata: off by default (every run would change
 * the file and show in git diffs), kept under "oomguard" when the user turns it on.
 */
import { expect, galata, test } from '@jupyterlab/galata';
import { cellBadge, openMemoryPanel, waitForReading } from './helpers/panel';

async function savedCells(page: any, path: string): Promise<any[]> {
  await page.notebook.save();
  const response = await page.request.get(`/api/contents/${path}?content=1`);
  expect(response.ok()).toBe(true);
  return (await response.json()).content.cells;
}

async function runAllocatingCell(page: any): Promise<void> {
  await page.notebook.createNew('records.ipynb', { kernel: 'python3' });
  await openMemoryPanel(page);
  await waitForReading(page);
  await page.notebook.setCell(0, 'code', 'held = bytearray(128 << 20)');
  await page.notebook.runCell(0);
  await expect(cellBadge(page.locator('.jp-Cell').first())).toContainText('RAM +');
}

test.describe('Cell metadata, off by default', () => {
  test('leaves the notebook file alone', async ({ page, tmpPath }) => {
    await runAllocatingCell(page);
    const [cell] = await savedCells(page, `${tmpPath}/records.ipynb`);
    expect(cell.metadata.oomguard).toBeUndefined();
  });
});

test.describe('Cell metadata, turned on', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'jupyterlab-oomguard:plugin': { recordsInMetadata: true }
    }
  });

  test('keeps the last run of each cell under "oomguard"', async ({ page, tmpPath }) => {
    await runAllocatingCell(page);
    const [cell] = await savedCells(page, `${tmpPath}/records.ipynb`);
    const record = cell.metadata.oomguard;
    expect(record.execution_count).toBe(cell.execution_count);
    expect(record.status).toBe('ok');
    expect(record.ram_delta).toBeGreaterThan(120 * 2 ** 20);
    expect(record.ram_peak).toBeGreaterThanOrEqual(record.ram_after);
    expect(Date.parse(record.start)).toBeGreaterThan(Date.now() - 10 * 60_000);
    expect(record).not.toHaveProperty('notes');
  });
});
