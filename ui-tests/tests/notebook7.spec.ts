/**
 * Notebook 7: the same extension, in the notebook's own shell. Galata drives
 * JupyterLab only, so this spec starts a Jupyter Notebook 7 server of its own (same
 * test configuration, its own port and folder) and uses plain Playwright.
 */
import { expect, Page, test } from '@playwright/test';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

const NOTEBOOK = {
  cells: [
    {
      cell_type: 'code',
      execution_count: null,
      id: 'allocate',
      metadata: {},
      outputs: [],
      source: ['held = bytearray(96 << 20)']
    }
  ],
  metadata: {
    kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' }
  },
  nbformat: 4,
  nbformat_minor: 5
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, 'localhost', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function waitForServer(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) {
        return;
      }
    } catch {
      // not listening yet
    }
    await new Promise(resolve => setTimeout(resolve, 500));
  }
  throw new Error(`Notebook 7 did not answer at ${url} within ${timeoutMs} ms`);
}

async function runCommand(page: Page, label: string): Promise<void> {
  const palette = page.locator('.jp-ModalCommandPalette');
  const input = palette.locator('input');
  // On a slow machine the menu can take a click before it is ready, and the modal
  // palette closes when focus moves: open it, type into its own input (never into the
  // notebook, where letters are shortcuts) and run the command, all over again until
  // it takes.
  await expect(async () => {
    if (!(await palette.isVisible())) {
      await page.getByRole('menuitem', { name: 'View' }).click({ timeout: 2_000 });
      await page
        .getByRole('menuitem', { name: 'Activate Command Palette' })
        .click({ timeout: 2_000 });
    }
    await input.fill(label, { timeout: 2_000 });
    await expect(palette.getByText(label)).toBeVisible({ timeout: 2_000 });
    await input.press('Enter', { timeout: 2_000 });
  }).toPass({ timeout: 60_000 });
}

let server: ChildProcess | undefined;
let baseURL = '';
let rootDir = '';

test.beforeAll(async () => {
  test.setTimeout(180_000);
  rootDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oomguard-notebook7-'));
  fs.writeFileSync(path.join(rootDir, 'memory.ipynb'), JSON.stringify(NOTEBOOK));
  const port = await freePort();
  baseURL = `http://localhost:${port}`;
  server = spawn(
    'jupyter',
    [
      'notebook',
      '--config',
      path.join(__dirname, '..', 'jupyter_server_test_config.py'),
      `--ServerApp.root_dir=${rootDir}`
    ],
    {
      env: { ...process.env, OOMGUARD_UI_TESTS_PORT: String(port) },
      stdio: 'ignore',
      detached: true
    }
  );
  await waitForServer(`${baseURL}/api/status`, 120_000);
});

test.afterAll(() => {
  if (server?.pid) {
    try {
      process.kill(-server.pid, 'SIGTERM'); // the server and its kernels
    } catch {
      // already gone
    }
  }
  fs.rmSync(rootDir, { recursive: true, force: true });
});

test('Notebook 7 shows the Memory panel in its right sidebar and badges cells', async ({
  page
}) => {
  await page.goto(`${baseURL}/notebooks/memory.ipynb`);
  await expect(page.locator('.jp-Notebook')).toBeVisible({ timeout: 60_000 });
  const panel = page.locator('#jp-oomguard-panel');
  await expect(panel).toBeHidden();
  // The panel is attached before it is shown: wait until the kernel is up and the shim
  // connected, so that nothing moves the focus while the palette is open.
  await expect(panel).toHaveAttribute('data-oomguard-state', 'connected', {
    timeout: 60_000
  });

  await runCommand(page, 'Show Memory Panel');
  await expect(panel).toBeVisible();
  await expect(page.locator('#jp-right-stack').getByRole('region', { name: 'Kernel RAM' })).toBeVisible();
  await expect(panel).toHaveAttribute('data-oomguard-state', 'connected', {
    timeout: 60_000
  });
  const rss = panel.locator('.jp-oomguard-rss');
  await expect(rss).toHaveAttribute('data-oomguard-rss', /^\d+$/);
  const before = Number(await rss.getAttribute('data-oomguard-rss'));

  await page.locator('.jp-Cell .cm-content').first().click();
  await page.keyboard.press('Shift+Enter');
  const badge = page
    .locator('.jp-Cell')
    .first()
    .getByRole('status', { name: 'Memory of this cell (oomguard)' });
  await expect(badge).toHaveText(/^RAM \+9\d\.\d MiB · peak \+9\d\.\d MiB/, { timeout: 30_000 });
  // The panel follows the kernel: its RSS grew by about the 96 MiB the cell holds.
  await expect
    .poll(async () => Number(await rss.getAttribute('data-oomguard-rss')) - before, {
      timeout: 15_000
    })
    .toBeGreaterThan(90 * 2 ** 20);
  await expect(
    page
      .getByRole('region', { name: 'Memory (oomguard)', exact: true })
      .getByRole('region', { name: 'Cells', exact: true })
      .getByRole('button', { name: /^Show cell 1 of \d+/ })
  ).toHaveCount(1);
});
