/**
 * Opening a notebook attaches the *installed* oomguard, never a module of that name in
 * the notebook's folder (which comes first on the kernel's sys.path); and with the
 * auto-attach setting off, nothing runs in the kernel until the user attaches by hand.
 */
import { expect, galata, test } from '@jupyterlab/galata';
import { openMemoryPanel, panelStatus, waitForReading, waitForState } from './helpers/panel';

/** Would write a marker file beside itself if it were ever imported. */
const HOSTILE = [
  'import pathlib',
  "pathlib.Path(__file__).with_name('MARKER').write_text('imported')",
  'def enable(**settings): pass'
].join('\n');

async function lastOutput(page: any, code: string): Promise<string | undefined> {
  await page.notebook.addCell('code', code);
  const index = (await page.notebook.getCellCount()) - 1;
  await page.notebook.runCell(index);
  return (await page.notebook.getCellTextOutput(index))?.[0];
}

test.describe('Attaching', () => {
  test('a hostile oomguard.py beside the notebook never runs; the panel connects', async ({
    page,
    tmpPath
  }) => {
    await page.contents.uploadContent(HOSTILE, 'text', `${tmpPath}/oomguard.py`);
    await page.notebook.createNew('downloaded.ipynb', { kernel: 'python3' });
    await openMemoryPanel(page);
    await waitForReading(page);

    expect(await page.contents.fileExists(`${tmpPath}/MARKER`)).toBe(false);
    // The kernel runs in the notebook's folder, where sys.path finds the hostile file
    // first (PathFinder reads no code): without the fix it would have run.
    expect(
      await lastOutput(
        page,
        "__import__('importlib.machinery').machinery.PathFinder.find_spec('oomguard').origin"
      )
    ).toContain(`${tmpPath}/oomguard.py`);
    expect(await lastOutput(page, "__import__('sys').modules['oomguard'].__file__")).toMatch(
      /site-packages\/oomguard\/__init__\.py'$/
    );
    expect(await page.contents.fileExists(`${tmpPath}/MARKER`)).toBe(false);
  });
});

test.describe('Attaching with auto-attach off', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'jupyterlab-oomguard:plugin': { autoAttach: false }
    }
  });

  test('nothing runs in the kernel until Attach is pressed', async ({ page }) => {
    await page.notebook.createNew('manual.ipynb', { kernel: 'python3' });
    const panel = await openMemoryPanel(page);
    await waitForState(page, 'detached');
    await expect(panelStatus(page)).toContainText('auto-attach setting is off');
    expect(await lastOutput(page, "'oomguard' in __import__('sys').modules")).toBe('False');

    const attach = panel.getByRole('button', { name: 'Attach', exact: true });
    await expect(attach).toBeVisible();
    await attach.click();
    await waitForReading(page);
    expect(await lastOutput(page, "'oomguard' in __import__('sys').modules")).toBe('True');
  });
});
