/**
 * Reading the Memory panel the way a user sees it, through the DOM.
 */
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { expect } from '@jupyterlab/galata';

export const MiB = 2 ** 20;
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/**
 * A size as the panel writes it ("1.9 GiB", "256 MiB") in bytes, with what its rounding
 * may hide (half its last digit).
 */
export function parseShownBytes(text: string | null): { value: number; rounding: number } {
  const match = /(\d+)(?:\.(\d+))? (B|KiB|MiB|GiB|TiB)\b/.exec(text ?? '');
  if (!match) {
    throw new Error(`not a size: ${JSON.stringify(text)}`);
  }
  const unit = 1024 ** UNITS.indexOf(match[3]);
  const digits = match[2]?.length ?? 0;
  return {
    value: Number(`${match[1]}.${match[2] ?? '0'}`) * unit,
    rounding: (0.5 * unit) / 10 ** digits
  };
}

export async function openMemoryPanel(page: IJupyterLabPageFixture) {
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('oomguard:open-panel')
  );
  const panel = page.locator('#jp-oomguard-panel');
  await expect(panel).toBeVisible();
  return panel;
}

/** The kernel RSS the panel shows, in bytes, or null when it shows none. */
export async function panelRss(page: IJupyterLabPageFixture): Promise<number | null> {
  const raw = await page
    .locator('#jp-oomguard-panel .jp-oomguard-rss')
    .getAttribute('data-oomguard-rss');
  return raw ? Number(raw) : null;
}

/** The kernel PID the shim reported in its hello. */
export async function panelPid(page: IJupyterLabPageFixture): Promise<number> {
  const raw = await page.locator('#jp-oomguard-panel').getAttribute('data-oomguard-pid');
  return Number(raw);
}

export async function waitForState(
  page: IJupyterLabPageFixture,
  state: string,
  timeout = 60_000
) {
  await expect(page.locator('#jp-oomguard-panel')).toHaveAttribute(
    'data-oomguard-state',
    state,
    { timeout }
  );
}

/** Wait until the panel is attached and shows a reading. */
export async function waitForReading(page: IJupyterLabPageFixture) {
  await waitForState(page, 'connected');
  await expect.poll(() => panelRss(page), { timeout: 30_000 }).not.toBeNull();
}

/** The kernel's timestamp of the reading the panel shows. */
async function readingTime(page: IJupyterLabPageFixture): Promise<string | null> {
  return page
    .locator('#jp-oomguard-panel .jp-oomguard-rss')
    .getAttribute('data-oomguard-time');
}

/** Wait for a reading newer than the one shown now, and return its RSS. */
export async function nextReading(page: IJupyterLabPageFixture): Promise<number> {
  const shown = await readingTime(page);
  await expect.poll(() => readingTime(page), { timeout: 10_000 }).not.toBe(shown);
  return (await panelRss(page)) as number;
}
