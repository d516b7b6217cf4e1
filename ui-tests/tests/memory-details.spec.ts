/**
 * What the shim measures beyond the RAM gauge, as the panel shows it: the cost of each
 * cell and the largest variables — rendered as text, whatever the kernel sends.
 */
import { expect, test } from '@jupyterlab/galata';
import { openMemoryPanel, waitForReading } from './helpers/panel';

test.describe('Memory panel details', () => {
  test.beforeEach(async ({ page }) => {
    await page.notebook.createNew('details.ipynb', { kernel: 'python3' });
    await openMemoryPanel(page);
    await waitForReading(page);
  });

  test('lists each executed cell with its RAM change and peak', async ({ page }) => {
    await page.notebook.setCell(0, 'code', "block = b'\\x01' * (300 << 20)");
    await page.notebook.runCell(0);
    const cells = page.locator('#jp-oomguard-panel .jp-oomguard-cells');
    await expect(cells).toBeVisible();
    const row = cells.locator('.jp-oomguard-cell').first();
    await expect(row.locator('.jp-oomguard-cell-count')).toHaveText('[1]');
    // 300 MiB written: the delta shows as +2xx or +3xx MiB, the peak at least that.
    await expect(row.locator('.jp-oomguard-cell-figures')).toContainText(/RAM \+(29\d|30\d) MiB/);
    await expect(row.locator('.jp-oomguard-cell-figures')).toContainText('peak +');
  });

  test('scans the variables on request and lists the largest', async ({ page }) => {
    await page.notebook.setCell(
      0,
      'code',
      ["big = b'\\x01' * (64 << 20)", "small = b'\\x01' * (1 << 20)"].join('\n')
    );
    await page.notebook.runCell(0);
    await page.locator('#jp-oomguard-panel .jp-oomguard-scan').click();
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
    const panel = page.locator('#jp-oomguard-panel');
    await panel.locator('.jp-oomguard-scan').click();
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

    await panel.locator('button[data-sort-key="name"]').click();
    await expect(names).toHaveText(['alpha', 'growing', 'zeta']);
    await panel.locator('button[data-sort-key="name"]').click();
    await expect(names).toHaveText(['zeta', 'growing', 'alpha']);
    await panel.locator('.jp-oomguard-variable-filter').fill('ALPHA');
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
    await page.locator('#jp-oomguard-panel .jp-oomguard-scan').click();
    const names = page.locator('#jp-oomguard-panel .jp-oomguard-variable-name');
    await expect(names.filter({ hasText: payload })).toHaveCount(1);
    await expect(page.locator('#jp-oomguard-panel img, #jp-oomguard-panel script')).toHaveCount(0);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
  });

  test('exports the timeline as files that parse', async ({ page }) => {
    await page.notebook.setCell(0, 'code', "block = b'\\x01' * (100 << 20)");
    await page.notebook.runCell(0);
    await expect(page.locator('#jp-oomguard-panel .jp-oomguard-cell')).toHaveCount(1);
    const read = async (format: string) => {
      const downloading = page.waitForEvent('download');
      await page.locator(`#jp-oomguard-panel .jp-oomguard-export[data-format="${format}"]`).click();
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
