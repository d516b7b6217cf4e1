/**
 * While a cell is edited (not run), the kernel predicts it: a line that would not fit
 * in free memory is marked in the editor with a hint under it, and the mark goes once
 * the line is edited into something small. The cell itself never runs.
 */
import { expect, test } from '@jupyterlab/galata';
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { openMemoryPanel, panelPid, waitForReading, waitForState } from './helpers/panel';

// 200,000² float64 = 298 GiB: more than any machine running these tests has free.
const RISKY_CELL = 'import numpy as np\nx = np.zeros((200000, 200000))';
const SMALL_CELL = 'import numpy as np\nx = np.zeros((200, 200))';

test('a risky line is marked while the cell is edited, before it runs', async ({ page }) => {
  await page.notebook.createNew('editing.ipynb', { kernel: 'python3' });
  await openMemoryPanel(page);
  await waitForReading(page);
  const cell = page.locator('.jp-Notebook .jp-Cell').nth(0);

  await page.notebook.setCell(0, 'code', RISKY_CELL);
  const marked = cell.locator('.jp-oomguard-risky-line');
  await expect(marked).toHaveCount(1, { timeout: 10_000 });
  await expect(marked).toHaveText('x = np.zeros((200000, 200000))');
  await expect(marked).toHaveAttribute('title', /298 GiB/);
  const hint = cell.getByRole('note', { name: 'Memory prediction (oomguard)' });
  await expect(hint).toContainText(
    /line 2: would need 298 GiB of [\d.]+ [KMGT]iB free on cpu/
  );
  await expect(cell).toHaveAttribute('data-oomguard-prediction', 'risky');

  await page.notebook.setCell(0, 'code', SMALL_CELL);
  // The small cell was judged (not merely un-marked by the edit), and found harmless.
  await expect(cell).toHaveAttribute('data-oomguard-prediction', 'clear', { timeout: 10_000 });
  await expect(cell.locator('.jp-oomguard-risky-line')).toHaveCount(0);
  await expect(hint).toHaveCount(0);

  // Nothing ran: no execution count, nothing defined in the kernel.
  await expect(cell.locator('.jp-InputPrompt')).toHaveText('[ ]:');
  await page.notebook.addCell('code', "'np' in globals(), 'x' in globals()");
  await page.notebook.runCell(1);
  expect((await page.notebook.getCellTextOutput(1))?.[0]).toBe('(False, False)');
});

/** Turn "predict while editing" on or off, as the settings editor would. */
async function predictWhileEditing(page: IJupyterLabPageFixture, on: boolean) {
  await page.evaluate(async on => {
    const registry = (await (window as any).galata.getPlugin(
      '@jupyterlab/apputils-extension:settings'
    )) as any;
    await registry.set('jupyterlab-oomguard:plugin', 'predictWhileEditing', on);
  }, on);
}

test('the marks go when predicting while editing is turned off, and come back', async ({
  page
}) => {
  await page.notebook.createNew('toggle.ipynb', { kernel: 'python3' });
  await openMemoryPanel(page);
  await waitForReading(page);
  const cell = page.locator('.jp-Notebook .jp-Cell').nth(0);
  await page.notebook.setCell(0, 'code', RISKY_CELL);
  await expect(cell).toHaveAttribute('data-oomguard-prediction', 'risky', { timeout: 10_000 });

  await predictWhileEditing(page, false);
  await expect(cell).not.toHaveAttribute('data-oomguard-prediction');
  const hint = cell.getByRole('note', { name: 'Memory prediction (oomguard)' });
  await expect(cell.locator('.jp-oomguard-risky-line')).toHaveCount(0);
  await expect(hint).toHaveCount(0);

  await predictWhileEditing(page, true);
  await expect(cell).toHaveAttribute('data-oomguard-prediction', 'risky', { timeout: 10_000 });
  await expect(cell.locator('.jp-oomguard-risky-line')).toHaveCount(1);
  await expect(hint).toHaveCount(1);
});

test.describe('predictions across a kernel restart', () => {
  // galata's kernel tracking answers every POST to /api/kernels/* with 201, and
  // JupyterLab rejects a restart answered 201: let these requests through untouched.
  test.use({ kernels: null });

  test('a cell edited during a restart is judged by the new kernel', async ({ page }) => {
    await page.notebook.createNew('restarting.ipynb', { kernel: 'python3' });
    await openMemoryPanel(page);
    await waitForReading(page);
    const cell = page.locator('.jp-Notebook .jp-Cell').nth(0);
    await page.notebook.setCell(0, 'code', SMALL_CELL);
    await expect(cell).toHaveAttribute('data-oomguard-prediction', 'clear', { timeout: 10_000 });
    const firstPid = await panelPid(page);

    await page.evaluate(() => {
      void (window as any).jupyterapp.commands.execute('kernelmenu:restart');
    });
    await page.locator('.jp-Dialog .jp-mod-accept').click();
    // Typed while the kernel restarts: asked once the new kernel's shim says hello.
    await page.notebook.setCell(0, 'code', RISKY_CELL);
    await expect.poll(() => panelPid(page), { timeout: 60_000 }).not.toBe(firstPid);
    await waitForState(page, 'connected');
    await expect(cell).toHaveAttribute('data-oomguard-prediction', 'risky', { timeout: 15_000 });
    await expect(cell.locator('.jp-oomguard-risky-line')).toHaveCount(1);
  });
});
