import type { TranslationBundle } from '@jupyterlab/translation';
import type uPlot from 'uplot';
import type { ICellSpan } from '../model/timelineSeries';
import { spanLabel } from './chartSpans';
import { element } from './dom';

/** Span buttons offered to keyboard and screen-reader users: the newest ones. */
const LISTED_SPANS = 50;

/**
 * The newest spans as buttons: the keyboard's and screen reader's way to what the
 * chart shows on a canvas. Out of sight until a button has focus (style/chart.css).
 */
export class ChartSpanList {
  readonly node = element('ul', 'jp-oomguard-chart-spans');

  constructor(
    private _trans: TranslationBundle,
    private _onSpan: (span: ICellSpan) => void
  ) {
    this.node.setAttribute('aria-label', _trans.__('Cell executions'));
  }

  /** Rebuild the buttons for the newest of `spans`. */
  render(spans: readonly ICellSpan[]): void {
    const trans = this._trans;
    const listed = spans.slice(-LISTED_SPANS);
    const items = listed.map(span => {
      const item = element('li', 'jp-oomguard-chart-span');
      const label = spanLabel(span);
      const button = element('button', 'jp-oomguard-chart-span-button', label);
      button.type = 'button';
      button.title =
        span.end === null
          ? trans.__('Cell %1, running', label)
          : trans.__('Cell %1, ran %2 s', label, (span.end - span.start).toFixed(1));
      button.setAttribute('aria-label', button.title);
      button.dataset.oomguardCellId = span.cell_id ?? '';
      button.dataset.oomguardExecutionCount =
        span.execution_count === null ? '' : String(span.execution_count);
      button.dataset.oomguardStart = String(span.start);
      button.addEventListener('click', () => this._onSpan(span));
      item.appendChild(button);
      return item;
    });
    this.node.replaceChildren(...items);
    this._listed = listed;
  }

  /**
   * Where each listed span sits on the plot, in CSS pixels from the plot area's left
   * edge (`data-oomguard-x`; empty when off the chart): tests click there.
   */
  place(u: Pick<uPlot, 'scales' | 'valToPos'>): void {
    const min = u.scales.x.min ?? 0;
    const max = u.scales.x.max ?? 0;
    const buttons = this.node.querySelectorAll('button');
    this._listed.forEach((span, i) => {
      const button = buttons[i];
      if (!button) {
        return;
      }
      const end = Math.min(span.end ?? max, max);
      const start = Math.max(span.start, min);
      button.dataset.oomguardX =
        end >= start ? String(u.valToPos((start + end) / 2, 'x')) : '';
    });
  }

  private _listed: readonly ICellSpan[] = [];
}
