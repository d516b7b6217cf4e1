/**
 * Reading the Memory panel the way a user sees it, through the DOM.
 */
import type { IJupyterLabPageFixture } from '@jupyterlab/galata';
import { expect } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

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

/**
 * The Memory panel as assistive technology finds it: a region named "Memory
 * (oomguard)". Its parts are found by role too (sections are regions named by their
 * headings); data attributes (`data-oomguard-*`) are read from `#jp-oomguard-panel`.
 */
export function memoryPanel(page: IJupyterLabPageFixture): Locator {
  return page.getByRole('region', { name: 'Memory (oomguard)', exact: true });
}

/**
 * A section of the panel: "Kernel RAM", "Warnings", "GPU memory", "Cluster memory",
 * "Timeline", "Cells", "Variables".
 */
export function panelSection(page: IJupyterLabPageFixture, name: string): Locator {
  return memoryPanel(page).getByRole('region', { name, exact: true });
}

/** What the panel says about its link to the kernel (connecting, missing, dead...). */
export function panelStatus(page: IJupyterLabPageFixture): Locator {
  return memoryPanel(page).getByRole('status', { name: 'Memory monitoring status' });
}

/** Under a notebook cell: its memory badge, status text. */
export function cellBadge(cell: Locator): Locator {
  return cell.getByRole('status', { name: 'Memory of this cell (oomguard)' });
}

/** At the top of a notebook cell: the pre-run warning banner, an alert. */
export function cellBanner(cell: Locator): Locator {
  return cell.getByRole('alert', { name: 'Memory warning (oomguard)' });
}

export async function openMemoryPanel(page: IJupyterLabPageFixture): Promise<Locator> {
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('oomguard:open-panel')
  );
  const panel = memoryPanel(page);
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
