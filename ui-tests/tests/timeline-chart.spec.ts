/**
 * The Memory panel's timeline: RAM over the session with each cell's execution
 * shaded; picking a span (on the chart, or with the keyboard in the span list)
 * makes that cell the notebook's active cell and scrolls it into view.
 */
import { expect, test } from '@jupyterlab/galata';
import { openMemoryPanel, panelSection, waitForReading } from './helpers/panel';

const MiB = 2 ** 20;

/** A notebook long enough that its first cell scrolls out of sight. */
function longNotebook() {
  const code = (id: string, source: string) => ({
    id,
    cell_type: 'code',
    source,
    metadata: {},
    outputs: [],
    execution_count: null
  });
  const filler = Array.from({ length: 30 }, (_, i) => ({
    id: `filler-${i}`,
    cell_type: 'markdown',
    source: `## Filler ${i}\n\n` + 'Some text to make the notebook long.\n\n'.repeat(4),
    metadata: {}
  }));
  return {
    cells: [
      code(
        'alloc',
        'import time\nimport numpy as np\nblock = np.ones(300 * 2**20 // 8)\ntime.sleep(2.5)'
      ),
      code('small', 'import time\nx = 1\ntime.sleep(1.5)'),
      code('sleepy', 'import time\ntime.sleep(2.5)'),
      ...filler,
      code('slow', 'import time\ntime.sleep(5)')
    ],
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
}

/** The largest Kernel RAM value the chart holds, read from its uPlot data. */
async function chartRssMax(page: any): Promise<number> {
  return page.evaluate(() => {
    const app = (window as any).jupyterapp;
    const panel = app.shell.widgets('right');
    for (const widget of panel) {
      if (widget.id === 'jp-oomguard-panel') {
        const timeline = widget.memory?.model.readings.timeline;
        return timeline?.extremes('rss')?.max ?? 0;
      }
    }
    return 0;
  });
}

test.describe('Timeline chart', () => {
  test('marks cells on the chart; a span takes you to its cell', async ({
    page,
    tmpPath
  }) => {
    await page.contents.uploadContent(
      JSON.stringify(longNotebook()),
      'text',
      `${tmpPath}/timeline.ipynb`
    );
    await page.notebook.open('timeline.ipynb');
    const panel = await openMemoryPanel(page);
    await waitForReading(page);

    for (const index of [0, 1, 2]) {
      await page.notebook.runCell(index);
    }

    const chart = panelSection(page, 'Timeline').locator('.jp-oomguard-chart');
    await expect(chart.locator('canvas')).toBeVisible();
    await expect(chart).toHaveAttribute('data-oomguard-spans', '3', { timeout: 15_000 });
    // The keyboard's way to the spans: a list of buttons, one per cell run.
    const buttons = chart.getByRole('list', { name: 'Cell executions' }).getByRole('button');
    await expect(buttons).toHaveText(['[1]', '[2]', '[3]']);
    await expect(buttons.nth(0)).toHaveAttribute('data-oomguard-cell-id', 'alloc');
    // The 300 MiB block shows on the chart's RAM line.
    expect(await chartRssMax(page)).toBeGreaterThan(300 * MiB);
    // With the pointer elsewhere, the legend shows the latest reading, not "--".
    const legend = (label: string) =>
      chart
        .locator('.u-legend .u-series')
        .filter({ has: page.locator('.u-label', { hasText: label }) })
        .locator('.u-value');
    await page.mouse.move(0, 0);
    await expect(legend('Time')).toHaveText(/\d/);
    await expect(legend('Kernel RAM')).toHaveText(/^[\d.]+ [KMG]iB$/);
    await expect(legend('RAM limit')).toHaveText(/^[\d.]+ [KMG]iB$/);

    // Go to the end of the notebook: the first cell is out of sight.
    const cells = page.locator('.jp-Notebook .jp-Cell');
    await page.evaluate(async () => {
      const notebook = (window as any).jupyterapp.shell.currentWidget.content;
      notebook.activeCellIndex = notebook.widgets.length - 1;
      await notebook.scrollToItem(notebook.widgets.length - 1, 'end');
    });
    await expect(cells.last()).toBeInViewport();
    await expect(cells.first()).not.toBeInViewport();

    // Click the first cell's span on the chart itself.
    const x = Number(await buttons.nth(0).getAttribute('data-oomguard-x'));
    expect(x).toBeGreaterThan(0);
    await chart.locator('.u-over').click({ position: { x, y: 30 } });
    await expect(cells.first()).toHaveClass(/jp-mod-active/);
    await expect(cells.first()).toBeInViewport();
    await expect(cells.first()).toContainText('np.ones');

    // The keyboard way: focus the third span's button and press Enter.
    await buttons.nth(2).focus();
    await expect(buttons.nth(2)).toBeVisible();
    await page.keyboard.press('Enter');
    await expect(cells.nth(2)).toHaveClass(/jp-mod-active/);
    await expect(cells.first()).not.toHaveClass(/jp-mod-active/);

    // A running cell is marked live, before its record arrives.
    const run = page.notebook.runCell(33).catch(() => undefined);
    await expect(chart).toHaveAttribute('data-oomguard-spans', '4', { timeout: 10_000 });
    await expect(buttons.last()).toHaveAttribute('title', /running/);
    await run;
    await expect(buttons.last()).toHaveAttribute('title', /ran \d/, { timeout: 10_000 });
  });
});

test.describe('Timeline chart theme', () => {
  /** The RAM line's legend colour, and the theme's colour for it, as rgb(). */
  async function ramColours(page: any) {
    return page.evaluate(() => {
      const chart = document.querySelector('#jp-oomguard-panel .jp-oomguard-chart')!;
      const row = [...chart.querySelectorAll('.u-legend .u-series')].find(
        r => r.querySelector('.u-label')?.textContent === 'Kernel RAM'
      );
      const marker = row?.querySelector('.u-marker') as HTMLElement;
      const probe = document.createElement('span');
      probe.style.color = 'var(--jp-brand-color1)';
      document.body.appendChild(probe);
      const theme = getComputedStyle(probe).color;
      probe.remove();
      return { legend: getComputedStyle(marker).borderTopColor, theme };
    });
  }

  test('takes the new theme colours when the theme changes', async ({ page }) => {
    await page.notebook.createNew('theme.ipynb', { kernel: 'python3' });
    const panel = await openMemoryPanel(page);
    await waitForReading(page);
    await expect(panel.locator('.jp-oomguard-chart canvas')).toBeVisible();
    await expect(panel.locator('.jp-oomguard-chart .u-legend')).toContainText('Kernel RAM');
    const light = await ramColours(page);
    expect(light.legend).toBe(light.theme);

    await page.theme.setDarkTheme();
    await expect.poll(async () => (await ramColours(page)).legend).not.toBe(light.legend);
    const dark = await ramColours(page);
    expect(dark.legend).toBe(dark.theme);
    expect(dark.theme).not.toBe(light.theme);
  });
});
