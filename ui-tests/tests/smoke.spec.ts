/**
 * Harness smoke test: real JupyterLab + real ipykernel in Chromium.
 *
 * Proves that the web server starts, galata's helpers are loaded, a Python
 * notebook can be created and a cell executes in a live kernel. It does not
 * depend on jupyterlab-oomguard being installed.
 */
import { expect, test } from '@jupyterlab/galata';
import { kernelPid, processRssBytes } from './helpers/memory';

test.describe('harness smoke', () => {
  test('JupyterLab starts with galata helpers', async ({ page }) => {
    await expect(page.locator('#jp-main-dock-panel')).toBeVisible();
    // galata's in-page helper extension (added by configure_jupyter_server)
    expect(await page.evaluate(() => typeof window.galata)).toBe('object');
    const version = await page.evaluate(
      () => (window as any).jupyterapp.version as string
    );
    expect(version).toMatch(/^4\./);
  });

  test('runs a Python cell in a new notebook', async ({ page, tmpPath }) => {
    const name = await page.notebook.createNew('smoke.ipynb', {
      kernel: 'python3'
    });
    expect(name).toBe('smoke.ipynb');

    await page.notebook.setCell(0, 'code', '1 + 1');
    expect(await page.notebook.runCell(0)).toBe(true);

    const outputs = await page.notebook.getCellTextOutput(0);
    expect(outputs).toEqual(['2']);

    // The execution count went through the real kernel.
    await expect(
      page.locator('.jp-OutputArea-prompt').filter({ hasText: '[1]:' })
    ).toHaveCount(1);

    await page.notebook.save();
    expect(await page.contents.fileExists(`${tmpPath}/smoke.ipynb`)).toBe(
      true
    );
  });

  test('reads the kernel RSS by PID', async ({ page }) => {
    await page.notebook.createNew('rss.ipynb', { kernel: 'python3' });
    const pid = await kernelPid(page);

    const before = await processRssBytes(pid);
    expect(before).not.toBeNull();
    // A live ipykernel is tens of MiB.
    expect(before!).toBeGreaterThan(10 * 2 ** 20);

    // Allocate and touch 200 MiB inside the kernel; the OS must see it.
    await page.notebook.addCell('code', 'blob = bytearray(200 * 2**20)');
    await page.notebook.runCell((await page.notebook.getCellCount()) - 1);
    await expect
      .poll(async () => (await processRssBytes(pid))! - before!, {
        timeout: 30 * 1000
      })
      .toBeGreaterThan(150 * 2 ** 20);
  });
});
