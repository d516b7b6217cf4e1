import type { TranslationBundle } from '@jupyterlab/translation';
import type uPlot from 'uplot';
import { formatBytes } from '../format';
import {
  ICellSpan,
  LIMIT,
  RSS,
  TimelineSeries
} from '../model/timelineSeries';
import { element } from './dom';

const HEIGHT = 160;
/** Tick steps of the byte axis in binary units, so ticks read "256 MiB", not "191 MiB". */
const BYTE_STEPS = [0, 10, 20, 30, 40].flatMap(shift =>
  [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].map(n => n * 2 ** shift)
);
/** Span buttons offered to keyboard and screen-reader users: the newest ones. */
const LISTED_SPANS = 50;

/** Called when the user picks a cell's span, on the chart or in the span list. */
export type SpanHandler = (span: ICellSpan) => void;

/** Colours of the current JupyterLab theme, read from its CSS variables. */
interface IPalette {
  font: string;
  text: string;
  grid: string;
  rss: string;
  limit: string;
  gpus: string[];
  span: string;
  running: string;
  label: string;
}

/**
 * RAM and VRAM over the session as lines, with each cell's execution shaded and
 * labelled by its execution count; clicking a span picks that cell.
 *
 * uPlot draws on a canvas, so memory and redraw cost stay flat for a day of
 * samples. It is loaded on first use: the bundle is only fetched once a chart is
 * shown. Redraws happen only when the data changed and the chart is on screen.
 */
export class TimelineChart {
  readonly node = element('div', 'jp-oomguard-chart');

  constructor(
    private _trans: TranslationBundle,
    private _onSpan: SpanHandler
  ) {
    this._plotHost.setAttribute('role', 'img');
    this._plotHost.setAttribute(
      'aria-label',
      _trans.__('Kernel RAM and VRAM over time, with cell executions shaded')
    );
    this._spanList.setAttribute('aria-label', _trans.__('Cell executions'));
    this.node.dataset.oomguardSpans = '0';
    this.node.append(this._plotHost, this._spanList);
    // Follow the sidebar's width; also how a chart hidden at first gets drawn.
    if (typeof ResizeObserver !== 'undefined') {
      this._resizeObserver = new ResizeObserver(() => this._onResize());
      this._resizeObserver.observe(this.node);
    }
  }

  /** uPlot's instance once created (for benchmarks and tests). */
  get plot(): uPlot | null {
    return this._plot;
  }

  /**
   * Show `series` with `running` as the live span. Cheap when nothing changed: the
   * panel renders every second, the chart redraws once per new sample at most.
   */
  update(series: TimelineSeries | null, running: ICellSpan | null): void {
    this._series = series;
    this._running = running;
    this._draw();
  }

  dispose(): void {
    this._resizeObserver?.disconnect();
    this._plot?.destroy();
    this._plot = null;
  }

  private _draw(): void {
    const series = this._series;
    const width = this._plotHost.clientWidth;
    if (!series || width <= 0) {
      // Hidden or detached: draw when shown (the resize observer calls back).
      return;
    }
    const runningKey = this._running
      ? `${this._running.start}:${this._running.cell_id}`
      : '';
    const drawn = this._drawn;
    if (
      drawn.series === series &&
      drawn.version === series.version &&
      drawn.spanVersion === series.spanVersion &&
      drawn.running === runningKey &&
      drawn.width === width &&
      this._plot
    ) {
      return;
    }
    const spansChanged =
      drawn.spanVersion !== series.spanVersion ||
      drawn.running !== runningKey ||
      drawn.series !== series;
    if (spansChanged) {
      // A sample taken just before a cell ended may still name it as running after
      // its record came: do not draw it twice.
      const last = series.spans[series.spans.length - 1];
      const running = this._running;
      const stale =
        running && last && last.start === running.start && last.cell_id === running.cell_id;
      this._spans = running && !stale ? [...series.spans, running] : series.spans;
    }
    const columns = series.data();
    const keysKey = columns.keys.join(',');
    if (!this._plot || this._plotKeys !== keysKey) {
      void this._create(columns.keys);
      return;
    }
    if (drawn.width !== width) {
      this._plot.setSize({ width, height: HEIGHT });
    }
    // Re-read the theme's colours: a theme switch shows at the next sample.
    this._palette = readPalette(this.node);
    this._plot.setData(columns.data as uPlot.AlignedData);
    this._drawn = {
      series,
      version: series.version,
      spanVersion: series.spanVersion,
      running: runningKey,
      width
    };
    if (spansChanged) {
      this.node.dataset.oomguardSpans = String(this._spans.length);
      this._renderSpanList();
    }
  }

  /** (Re)create the plot for this set of series; uPlot is imported on first use. */
  private async _create(keys: readonly string[]): Promise<void> {
    const keysKey = keys.join(',');
    if (this._creating === keysKey) {
      return;
    }
    this._creating = keysKey;
    try {
      const UPlot = (await import('uplot')).default;
      if (this._creating !== keysKey || !this._series) {
        return;
      }
      this._plot?.destroy();
      this._palette = readPalette(this.node);
      this._plot = new UPlot(
        this._options(keys, this._plotHost.clientWidth),
        this._series.data().data as uPlot.AlignedData,
        this._plotHost
      );
      this._plotKeys = keysKey;
      this._plot.over.addEventListener('click', this._onClick);
      this._plot.over.addEventListener('mousemove', this._onHover);
    } catch (reason) {
      console.warn('oomguard: the memory chart could not be drawn', reason);
    } finally {
      this._creating = '';
    }
    this._drawn = { ...this._drawn, series: null };
    this._draw();
  }

  private _options(keys: readonly string[], width: number): uPlot.Options {
    const trans = this._trans;
    const palette = () => this._palette;
    const bytes = (_: uPlot, value: number | null) => formatBytes(value);
    const lines: uPlot.Series[] = keys.map(key => {
      if (key === RSS) {
        return {
          label: trans.__('Kernel RAM'),
          stroke: () => palette().rss,
          width: 1.5,
          points: { show: false },
          value: bytes
        };
      }
      if (key === LIMIT) {
        return {
          label: trans.__('RAM limit'),
          stroke: () => palette().limit,
          width: 1,
          dash: [4, 4],
          points: { show: false },
          value: bytes
        };
      }
      const gpu = Number(key.replace(/^gpu/, ''));
      return {
        label: trans.__('GPU %1 used', gpu),
        stroke: () => palette().gpus[gpu % palette().gpus.length],
        width: 1.5,
        points: { show: false },
        value: bytes
      };
    });
    const axisStyle = {
      stroke: () => palette().text,
      font: `10px ${this._palette.font}`,
      grid: { stroke: () => palette().grid, width: 1 },
      ticks: { stroke: () => palette().grid, width: 1 }
    };
    return {
      width,
      height: HEIGHT,
      // The panel is narrow: the legend shows the values under the cursor below it.
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false, setScale: false } },
      scales: {
        x: { time: true },
        y: { range: u => [0, yTop(u, keys.indexOf(LIMIT) + 1)] }
      },
      series: [{ label: trans.__('Time') }, ...lines],
      axes: [
        { ...axisStyle, size: 28 },
        {
          ...axisStyle,
          // Wide enough for "1023 MiB" in the 10 px font; ".0" dropped to fit.
          size: 62,
          incrs: BYTE_STEPS,
          values: (_u, splits) => splits.map(v => formatBytes(v).replace('.0 ', ' '))
        }
      ],
      hooks: {
        drawClear: [u => this._drawSpans(u)],
        draw: [u => this._drawLabels(u)]
      }
    };
  }

  /** The spans inside the plot's time range, as [index of first, index past last]. */
  private _visibleSpans(u: uPlot): [number, number] {
    const min = u.scales.x.min ?? -Infinity;
    const max = u.scales.x.max ?? Infinity;
    const spans = this._spans;
    let lo = 0;
    let hi = spans.length;
    // The first span ending after min (spans are ordered by start and do not overlap).
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((spans[mid].end ?? Infinity) < min) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    let end = lo;
    while (end < spans.length && spans[end].start <= max) {
      end++;
    }
    return [lo, end];
  }

  /** Shade each visible span before the lines are drawn over them. */
  private _drawSpans(u: uPlot): void {
    const { ctx, bbox } = u;
    const palette = this._palette;
    const [first, end] = this._visibleSpans(u);
    const xMax = u.scales.x.max ?? 0;
    ctx.save();
    ctx.beginPath();
    ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
    ctx.clip();
    let painted = -Infinity;
    for (let i = first; i < end; i++) {
      const span = this._spans[i];
      const left = u.valToPos(span.start, 'x', true);
      // Even a millisecond cell stays visible: at least one device pixel wide.
      const right = Math.max(left + 1, u.valToPos(span.end ?? xMax, 'x', true));
      if (right <= painted && span.end !== null) {
        // A day of cells in 300 px: many share a pixel; paint it once.
        continue;
      }
      ctx.fillStyle = span.end === null ? palette.running : palette.span;
      ctx.globalAlpha = span.end === null ? 0.3 : i % 2 ? 0.14 : 0.22;
      ctx.fillRect(left, bbox.top, right - left, bbox.height);
      painted = Math.ceil(right);
    }
    ctx.restore();
  }

  /** Execution counts over the lines, where a span is wide enough to hold one. */
  private _drawLabels(u: uPlot): void {
    const { ctx, bbox } = u;
    const palette = this._palette;
    const [first, end] = this._visibleSpans(u);
    const xMax = u.scales.x.max ?? 0;
    const ratio = window.devicePixelRatio || 1;
    ctx.save();
    ctx.font = `${Math.round(10 * ratio)}px ${palette.font}`;
    ctx.fillStyle = palette.label;
    ctx.textBaseline = 'top';
    let lastRight = -Infinity;
    // No label is narrower than "[1]": skip narrower spans without measuring them.
    const narrowest = ctx.measureText('[1]').width + 2 * ratio;
    for (let i = first; i < end; i++) {
      const span = this._spans[i];
      const left = Math.max(bbox.left, u.valToPos(span.start, 'x', true));
      const right = Math.min(bbox.left + bbox.width, u.valToPos(span.end ?? xMax, 'x', true));
      if (right - left < narrowest || left <= lastRight) {
        continue;
      }
      const text = spanLabel(span);
      const textWidth = ctx.measureText(text).width;
      // Label where it fits, never on top of the previous label.
      if (right - left >= textWidth + 2 * ratio && left > lastRight) {
        ctx.fillText(text, left + ratio, bbox.top + 2 * ratio);
        lastRight = left + textWidth + ratio;
      }
    }
    ctx.restore();
    this._placeSpanButtons(u);
  }

  private _onClick = (event: MouseEvent): void => {
    const span = this._spanAtPointer(event);
    if (span) {
      this._onSpan(span);
    }
  };

  private _onHover = (event: MouseEvent): void => {
    const over = this._plot?.over;
    if (over) {
      over.style.cursor = this._spanAtPointer(event) ? 'pointer' : '';
    }
  };

  private _spanAtPointer(event: MouseEvent): ICellSpan | null {
    const plot = this._plot;
    if (!plot || !this._series) {
      return null;
    }
    const t = plot.posToVal(event.offsetX, 'x');
    // Narrow spans get a couple of pixels of slack either side.
    const slack = Math.abs(plot.posToVal(3, 'x') - plot.posToVal(0, 'x'));
    return (
      this._series.spanAt(t, this._spans) ??
      this._series.spanAt(t - slack, this._spans) ??
      this._series.spanAt(t + slack, this._spans)
    );
  }

  /** The newest spans as buttons: the keyboard's and screen reader's way in. */
  private _renderSpanList(): void {
    const spans = this._spans.slice(-LISTED_SPANS);
    const buttons = spans.map(span => {
      const item = element('li', 'jp-oomguard-chart-span');
      const button = element('button', 'jp-oomguard-chart-span-button', spanLabel(span));
      button.type = 'button';
      button.title = span.end === null
        ? this._trans.__('Cell %1, running', spanLabel(span))
        : this._trans.__(
            'Cell %1, ran %2 s',
            spanLabel(span),
            (span.end - span.start).toFixed(1)
          );
      button.setAttribute('aria-label', button.title);
      button.dataset.oomguardCellId = span.cell_id ?? '';
      button.dataset.oomguardExecutionCount =
        span.execution_count === null ? '' : String(span.execution_count);
      button.dataset.oomguardStart = String(span.start);
      button.addEventListener('click', () => this._onSpan(span));
      item.appendChild(button);
      return item;
    });
    this._spanList.replaceChildren(...buttons);
    this._listed = spans;
    if (this._plot) {
      this._placeSpanButtons(this._plot);
    }
  }

  /**
   * Where each listed span sits on the plot, in CSS pixels from the plot area's left
   * edge (`data-oomguard-x`; empty when off the chart): tests click there.
   */
  private _placeSpanButtons(u: uPlot): void {
    const min = u.scales.x.min ?? 0;
    const max = u.scales.x.max ?? 0;
    const buttons = this._spanList.querySelectorAll('button');
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

  private _onResize(): void {
    // Also how a chart first drawn while hidden catches up: _draw is a no-op when
    // nothing changed.
    if (this._plotHost.clientWidth > 0) {
      this._draw();
    }
  }

  private _plotHost = element('div', 'jp-oomguard-chart-plot');
  private _spanList = element('ul', 'jp-oomguard-chart-spans');
  private _resizeObserver: ResizeObserver | null = null;
  private _plot: uPlot | null = null;
  private _plotKeys = '';
  private _creating = '';
  private _series: TimelineSeries | null = null;
  private _running: ICellSpan | null = null;
  private _spans: readonly ICellSpan[] = [];
  private _listed: readonly ICellSpan[] = [];
  private _palette: IPalette = readPalette(null);
  private _drawn: {
    series: TimelineSeries | null;
    version: number;
    spanVersion: number;
    running: string;
    width: number;
  } = { series: null, version: -1, spanVersion: -1, running: '', width: 0 };
}

/**
 * The top of the byte axis: the highest reading with some headroom. The limit line
 * counts only once readings come within reach of it: a 300 MiB kernel under a
 * 24 GiB limit would otherwise be a flat line at the bottom.
 */
function yTop(u: uPlot, limitIndex: number): number {
  let top = 0;
  let limit = 0;
  u.data.forEach((column, i) => {
    if (i === 0) {
      return;
    }
    for (const value of column as (number | null)[]) {
      if (value !== null && value !== undefined) {
        if (i === limitIndex) {
          limit = Math.max(limit, value);
        } else {
          top = Math.max(top, value);
        }
      }
    }
  });
  if (limit > 0 && limit <= top * 1.5) {
    top = Math.max(top, limit);
  }
  return top > 0 ? top * 1.1 : 1;
}

/** "[12]", or "[ ]" for a cell run without an execution count. */
function spanLabel(span: ICellSpan): string {
  return `[${span.execution_count ?? ' '}]`;
}

function readPalette(node: Element | null): IPalette {
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
    span: css('--jp-brand-color2', '#64b5f6'),
    running: css('--jp-warn-color2', '#ffb74d'),
    label: css('--jp-ui-font-color1', '#212121')
  };
}
