import type { TranslationBundle } from '@jupyterlab/translation';
import type uPlot from 'uplot';
import { CLUSTER, ICellSpan, IReadonlyTimeline } from '../model/timelineSeries';
import { CHART_HEIGHT, chartOptions } from './chartOptions';
import { IPalette, readPalette, ThemeWatcher } from './chartPalette';
import { ChartSpanList } from './chartSpanList';
import { drawLabels, drawSpans } from './chartSpans';
import { element } from './dom';

/** Called when the user picks a cell's span, on the chart or in the span list. */
export type SpanHandler = (span: ICellSpan) => void;

/**
 * RAM and VRAM (and the memory of a cluster the kernel drives) over the session as
 * lines, with each cell's execution shaded and labelled by its execution count;
 * clicking a span picks that cell.
 *
 * uPlot draws on a canvas, so memory and redraw cost stay flat for a day of
 * samples. It is loaded on first use: the bundle is only fetched once a chart is
 * shown. Redraws happen only when the data changed and the chart is on screen.
 * Options live in chartOptions.ts, span drawing in chartSpans.ts, the keyboard's
 * span buttons in chartSpanList.ts; this file owns the plot's life and clicks.
 */
export class TimelineChart {
  readonly node = element('div', 'jp-oomguard-chart');

  constructor(
    private _trans: TranslationBundle,
    private _onSpan: SpanHandler
  ) {
    this._spanList = new ChartSpanList(_trans, _onSpan);
    this._plotHost.setAttribute('role', 'img');
    this._label([]);
    this.node.dataset.oomguardSpans = '0';
    this.node.append(this._plotHost, this._spanList.node);
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

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Show `series` with `running` as the live span. Cheap when nothing changed: the
   * panel renders every second, the chart redraws once per new sample at most.
   */
  update(series: IReadonlyTimeline | null, running: ICellSpan | null): void {
    if (this._isDisposed) {
      return;
    }
    this._series = series;
    this._running = running;
    this._draw();
  }

  /** Destroy the plot (uPlot listens on window) and stop observing; final. */
  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._resizeObserver?.disconnect();
    this._resizeObserver = null;
    this._themeWatcher.dispose();
    this._plot?.destroy();
    this._plot = null;
    this._series = null;
  }

  private _draw(): void {
    const series = this._series;
    const width = this._plotHost.clientWidth;
    if (!series || width <= 0 || this._isDisposed) {
      // Hidden or detached: draw when shown (the resize observer calls back).
      return;
    }
    const running = this._running;
    const runningKey = running ? `${running.start}:${running.cell_id}` : '';
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
      const stale =
        running && last && last.start === running.start && last.cell_id === running.cell_id;
      this._spans = running && !stale ? [...series.spans, running] : series.spans;
    }
    const columns = series.data();
    if (!this._plot || this._plotKeys !== columns.keys.join(',')) {
      void this._create(columns.keys);
      return;
    }
    if (drawn.width !== width) {
      this._plot.setSize({ width, height: CHART_HEIGHT });
    }
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
      this._spanList.render(this._spans);
      this._spanList.place(this._plot);
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
      // The import may resolve after dispose: a plot made now would never be
      // destroyed, and uPlot listens on window.
      if (this._isDisposed || this._creating !== keysKey || !this._series) {
        return;
      }
      this._plot?.destroy();
      this._label(keys);
      this._palette = readPalette(this.node);
      const hooks: uPlot.Hooks.Arrays = {
        drawClear: [u => drawSpans(u, this._spans, this._palette)],
        draw: [
          u => {
            drawLabels(u, this._spans, this._palette);
            this._spanList.place(u);
          }
        ]
      };
      this._plot = new UPlot(
        chartOptions(keys, this._plotHost.clientWidth, this._trans, () => this._palette, hooks),
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

  /**
   * A new theme: rebuild the plot with its colours. Rebuilt rather than redrawn, as
   * uPlot colours the legend's markers and sets the axis font only when created.
   */
  private _onThemeChange(): void {
    this._palette = readPalette(this.node);
    this._plotKeys = '';
    this._drawn = { ...this._drawn, series: null };
    this._draw();
  }

  /** What the picture shows, named for screen readers: the cluster's line once there is one. */
  private _label(keys: readonly string[]): void {
    this._plotHost.setAttribute(
      'aria-label',
      keys.includes(CLUSTER)
        ? this._trans.__(
            "Kernel RAM, VRAM and the cluster's memory over time, with cell executions shaded"
          )
        : this._trans.__('Kernel RAM and VRAM over time, with cell executions shaded')
    );
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
    const series = this._series;
    if (!plot || !series) {
      return null;
    }
    const t = plot.posToVal(event.offsetX, 'x');
    // Narrow spans get a couple of pixels of slack either side.
    const slack = Math.abs(plot.posToVal(3, 'x') - plot.posToVal(0, 'x'));
    return (
      series.spanAt(t, this._spans) ??
      series.spanAt(t - slack, this._spans) ??
      series.spanAt(t + slack, this._spans)
    );
  }

  private _onResize(): void {
    // Also how a chart first drawn while hidden catches up: _draw is a no-op when
    // nothing changed.
    if (this._plotHost.clientWidth > 0) {
      this._draw();
    }
  }

  private _plotHost = element('div', 'jp-oomguard-chart-plot');
  private _spanList: ChartSpanList;
  private _resizeObserver: ResizeObserver | null = null;
  private _themeWatcher = new ThemeWatcher(() => this._onThemeChange());
  private _isDisposed = false;
  private _plot: uPlot | null = null;
  private _plotKeys = '';
  private _creating = '';
  private _series: IReadonlyTimeline | null = null;
  private _running: ICellSpan | null = null;
  private _spans: readonly ICellSpan[] = [];
  private _palette: IPalette = readPalette(null);
  private _drawn: {
    series: IReadonlyTimeline | null;
    version: number;
    spanVersion: number;
    running: string;
    width: number;
  } = { series: null, version: -1, spanVersion: -1, running: '', width: 0 };
}
