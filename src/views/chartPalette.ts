/** Colours of the current JupyterLab theme, read from its CSS variables. */
export interface IPalette {
  font: string;
  text: string;
  grid: string;
  rss: string;
  limit: string;
  gpus: string[];
  /** The cluster's memory line, and its limit's. */
  cluster: string;
  span: string;
  running: string;
  label: string;
}

/** The palette under `node`, or the light theme's colours when there is no node. */
export function readPalette(node: Element | null): IPalette {
  const style = node ? getComputedStyle(node) : null;
  const css = (name: string, fallback: string) =>
    style?.getPropertyValue(name).trim() || fallback;
  return {
    font: css('--jp-ui-font-family', 'sans-serif'),
    text: css('--jp-ui-font-color2', '#616161'),
    grid: css('--jp-border-color2', '#e0e0e0'),
    rss: css('--jp-brand-color1', '#1976d2'),
    limit: css('--jp-error-color1', '#d32f2f'),
    gpus: [
      css('--jp-accent-color1', '#388e3c'),
      css('--jp-warn-color1', '#f57c00'),
      css('--jp-success-color1', '#388e3c'),
      css('--jp-brand-color3', '#bbdefb')
    ],
    cluster: css('--jp-info-color1', '#0097a7'),
    span: css('--jp-brand-color2', '#64b5f6'),
    running: css('--jp-warn-color2', '#ffb74d'),
    label: css('--jp-ui-font-color1', '#212121')
  };
}

/**
 * Calls back when JupyterLab switches theme. JupyterLab sets `data-jp-theme-name`
 * on the body once the new theme's stylesheet has loaded, so the CSS variables
 * read in the callback are already the new theme's. A canvas does not follow CSS
 * by itself: the chart re-reads its palette here rather than on every sample.
 */
export class ThemeWatcher {
  constructor(onChange: () => void) {
    if (typeof MutationObserver === 'undefined') {
      return;
    }
    this._observer = new MutationObserver(onChange);
    this._observer.observe(document.body, {
      attributes: true,
      attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light']
    });
  }

  dispose(): void {
    this._observer?.disconnect();
    this._observer = null;
  }

  private _observer: MutationObserver | null = null;
}
