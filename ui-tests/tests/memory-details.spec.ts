/**
 * What the shim measures beyond the RAM gauge, as the panel shows it: the cost of each
 * cell and the largest variables — rendered as text, whatever the kernel sends.
 */
import { expect, test } from '@jupyterlab/galata';
import { memoryPanel, openMemoryPanel, panelSection, waitForReading } from './helpers/panel';

test.describe('Memory panel details', () => {
  test.beforeEach(async ({ page }) => {
    await page.notebook.createNew('details.ipynb', { kernel: 'python3' });
    await openMemoryPanel(page);
    await waitForReading(page);
  });

  test('ranks the cells by peak or by RAM kept; a row takes you to its cell', async ({
    page
  }) => {
    await page.notebook.setCell(0, 'code', "kept = b'\\x01' * (300 << 20)");
    await page.notebook.addCell('code', "spike = b'\\x01' * (500 << 20)\ndel spike");
    await page.notebook.addCell('code', 'small = 1');
    for (const index of [0, 1, 2]) {
      await page.notebook.runCell(index);
    }
    const cells = panelSection(page, 'Cells');
    const table = cells.getByRole('table', { name: 'Cells ranked by memory' });
    const rows = table.getByRole('row').filter({ has: page.getByRole('cell') });
    const links = table.getByRole('button', { name: /^Show cell/ });
    // By peak (the default): the 500 MiB spike first, though it kept nothing.
    await expect(links).toHaveText([/^cell 2 \[2\] · .*spike =/, /^cell 1 \[1\] · .*kept =/, /^cell 3 \[3\] · .*small/]);
    await expect(rows.nth(0).getByRole('cell').nth(1)).toHaveText(/^\+(49\d|5\d\d) MiB$/);
    await expect(rows.nth(1).getByRole('cell').nth(2)).toHaveText(/^\+(29\d|30\d) MiB$/);
    // By RAM kept, from the keyboard: the 300 MiB block first.
    await table.getByRole('button', { name: 'Kept', exact: true }).focus();
    await page.keyboard.press('Enter');
    await expect(links.first()).toHaveText(/^cell 1 \[1\] · .*kept =/);
    await expect(table.getByRole('columnheader', { name: 'Kept', exact: true })).toHaveAttribute(
      'aria-sort',
      'descending'
    );

    // A re-run keeps its latest record; a deleted cell drops out.
    await page.notebook.setCell(0, 'code', 'kept = None');
    await page.notebook.runCell(0);
    await expect(links.first()).toHaveText(/^cell 3 \[3\] · .*small|^cell 2 \[2\] · .*spike/);
    await expect(links).toHaveCount(3);
    await page.notebook.selectCells(1);
    await page.evaluate(() => (window as any).jupyterapp.commands.execute('notebook:delete-cell'));
    await expect(links).toHaveCount(2);
    await expect(table.getByRole('button', { name: /spike/ })).toHaveCount(0);

    // Enter on a row: its cell becomes the active one.
    await page.notebook.selectCells(0);
    const small = table.getByRole('button', { name: /^Show cell 2 of \d+ \("small = 1"\)$/ });
    await small.focus();
    await page.keyboard.press('Enter');
    await expect(page.locator('.jp-Notebook .jp-Cell').nth(1)).toHaveClass(/jp-mod-active/);
  });

  test('scans the variables on request and lists the largest', async ({ page }) => {
    await page.notebook.setCell(
      0,
      'code',
      ["big = b'\\x01' * (64 << 20)", "small = b'\\x01' * (1 << 20)"].join('\n')
    );
    await page.notebook.runCell(0);
    await panelSection(page, 'Variables').getByRole('button', { name: 'Scan' }).click();
    const rows = page.locator('#jp-oomguard-panel .jp-oomguard-variable');
    await expect(rows.first().locator('.jp-oomguard-variable-name')).toHaveText('big');
    await expect(rows.first().locator('.jp-oomguard-variable-bytes')).toHaveText('64.0 MiB');
    await expect(rows.nth(1).locator('.jp-oomguard-variable-name')).toHaveText('small');
  });

  test('sorts and filters the variables, with what each grew by since the last cell', async ({
    page
  }) => {
    await page.notebook.setCell(
      0,
      'code',
      ["alpha = b'\\x01' * (8 << 20)", "growing = b'\\x01' * (16 << 20)"].join('\n')
    );
    await page.notebook.runCell(0);
    await page.notebook.addCell('code', "growing += b'\\x01' * (32 << 20)\nzeta = bytearray(2 << 20)");
    await page.notebook.runCell((await page.notebook.getCellCount()) - 1);
    const panel = panelSection(page, 'Variables');
    await panel.getByRole('button', { name: 'Scan' }).click();
    const names = panel.locator('.jp-oomguard-variable-name');
    await expect(names).toHaveText(['growing', 'alpha', 'zeta']);
    const growthOf = (name: string) =>
      panel
        .locator('.jp-oomguard-variable')
        .filter({ has: page.locator('.jp-oomguard-variable-name', { hasText: name }) })
        .locator('.jp-oomguard-variable-growth');
    // The shim sends the namespace's sizes after each cell, off the cell's path.
    await expect(growthOf('growing')).toHaveText('+32.0 MiB');
    await expect(growthOf('alpha')).toHaveText('0');
    await expect(growthOf('zeta')).toHaveText('new');

    await panel.getByRole('button', { name: 'Name' }).click();
    await expect(names).toHaveText(['alpha', 'growing', 'zeta']);
    // The keyboard way: focus the header's button, press Enter.
    await panel.getByRole('button', { name: 'Name' }).focus();
    await page.keyboard.press('Enter');
    await expect(names).toHaveText(['zeta', 'growing', 'alpha']);
    await panel.getByRole('searchbox', { name: 'Filter variables' }).fill('ALPHA');
    await expect(names).toHaveText(['alpha']);
  });

  test('shows hostile variable names and types as text, never as HTML', async ({
    page
  }) => {
    const payload = '<img src=x onerror="window.__pwned = 1">';
    await page.notebook.setCell(
      0,
      'code',
      [
        `payload = ${JSON.stringify(payload)}`,
        'globals()[payload] = bytearray(2 << 20)',
        "Evil = type('Evil', (), {'__module__': '<script>window.__pwned = 2</script>'})",
        'Evil.__qualname__ = payload',
        'evil = Evil()'
      ].join('\n')
    );
    await page.notebook.runCell(0);
    await panelSection(page, 'Variables').getByRole('button', { name: 'Scan' }).click();
    const names = page.locator('#jp-oomguard-panel .jp-oomguard-variable-name');
    await expect(names.filter({ hasText: payload })).toHaveCount(1);
    await expect(page.locator('#jp-oomguard-panel img, #jp-oomguard-panel script')).toHaveCount(0);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  });

  test('exports the timeline as files that parse', async ({ page }) => {
    await page.notebook.setCell(0, 'code', "block = b'\\x01' * (100 << 20)");
    await page.notebook.runCell(0);
    await expect(panelSection(page, 'Cells').getByRole('button', { name: /^Show cell/ })).toHaveCount(1);
    const exports = memoryPanel(page).getByRole('group', { name: 'Export the memory timeline' });
    const labels: Record<string, string> = { json: 'JSON', csv: 'CSV', trace: 'Trace' };
    const read = async (format: string) => {
      const downloading = page.waitForEvent('download');
      await exports.getByRole('button', { name: `Export as ${labels[format]}` }).click();
      const file = await downloading;
      const stream = await file.createReadStream();
      const chunks: Buffer[] = [];
      for await (const chunk of stream) {
        chunks.push(chunk as Buffer);
      }
      return { name: file.suggestedFilename(), text: Buffer.concat(chunks).toString('utf8') };
    };
    const json = await read('json');
    expect(json.name).toBe('details-memory.json');
    const timeline = JSON.parse(json.text);
    expect(timeline.cells).toHaveLength(1);
    expect(timeline.cells[0].ram_delta).toBeGreaterThan(90 * 2 ** 20);
    expect(timeline.samples.length).toBeGreaterThan(0);

    const trace = JSON.parse((await read('trace')).text);
    expect(trace.traceEvents.some((e: any) => e.ph === 'X' && e.name === 'cell [1]')).toBe(true);
    expect(trace.traceEvents.some((e: any) => e.ph === 'C' && e.name === 'kernel RSS')).toBe(true);

    const csv = await read('csv');
    expect(csv.name).toBe('details-memory.csv');
    expect(csv.text.split('\r\n')[0]).toContain('time,t,rss');
  });
});
