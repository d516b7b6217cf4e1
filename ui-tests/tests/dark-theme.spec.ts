/**
 * The panel follows JupyterLab's theme: in JupyterLab Dark it is dark, its text light.
 */
import { expect, test } from '@jupyterlab/galata';
import { openMemoryPanel, waitForReading } from './helpers/panel';

/** Relative luminance (0 black … 1 white) of a CSS rgb() colour. */
function luminance(color: string): number {
  const [r, g, b] = (color.match(/\d+(\.\d+)?/g) ?? ['0', '0', '0']).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}

test('the panel is readable in JupyterLab Dark', async ({ page }) => {
  await page.theme.setDarkTheme();
  await page.notebook.createNew('dark.ipynb', { kernel: 'python3' });
  const panel = await openMemoryPanel(page);
  await waitForReading(page);
  const colours = await panel.evaluate(node => {
    const style = getComputedStyle(node);
    const value = getComputedStyle(node.querySelector('.jp-oomguard-rss') as Element);
    return { background: style.backgroundColor, text: value.color };
  });
  expect(luminance(colours.background)).toBeLessThan(0.3);
  expect(luminance(colours.text)).toBeGreaterThan(0.6);
});
