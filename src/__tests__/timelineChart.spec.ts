/**
 * The chart's life: uPlot is imported on first draw, and a chart disposed before
 * that import resolves must not build a plot (uPlot adds listeners on window that
 * nothing would remove). uPlot itself needs a real canvas, so jsdom gets a
 * stand-in that records what the chart asks of it; the drawing is tested in a real
 * browser by ui-tests/tests/timeline-chart.spec.ts.
 */
import { Widget } from '@lumino/widgets';
import UPlot from 'uplot';
import { MemoryModel } from '../model/memoryModel';
import { ICellSpan, TimelineSeries } from '../model/timelineSeries';
import { INotebookMemory } from '../tokens';
import { chartOptions, legendAtLatest, yTop } from '../views/chartOptions';
import { visibleSpans } from '../views/chartSpans';
import { MemoryPanel } from '../views/memoryPanel';
import { TimelineChart } from '../views/timelineChart';
import { sample, trans } from './fixtures';

jest.mock('uplot', () => ({
  __esModule: true,
  default: jest.fn().mockImplementation(function (
    this: Record<string, unknown>,
    _options: unknown,
    _data: unknown,
    host: HTMLElement
  ) {
    const root = document.createElement('div');
    const over = document.createElement('div');
    root.appendChild(over);
    host.appendChild(root);
    Object.assign(this, {
      over,
      scales: { x: { min: 0, max: 100 } },
      valToPos: (value: number) => value,
      posToVal: (pos: number) => pos,
      setData: jest.fn(),
      setSize: jest.fn(),
      destroy: jest.fn(() => root.remove())
    });
  })
}));

const mockUPlot = UPlot as unknown as jest.Mock;
const T0 = 1_700_000_000;

/** Let the dynamic import of uplot (and what follows it) resolve. */
const settle = () => new Promise(resolve => setTimeout(resolve, 0));

function series(): TimelineSeries {
  const timeline = new TimelineSeries();
  for (let i = 0; i < 5; i++) {
    timeline.add({ t: T0 + i, values: { rss: 1e8 + i } });
  }
  return timeline;
}

describe('TimelineChart', () => {
  // jsdom lays nothing out (Element's clientWidth is 0); the chart draws only once
  // it has a width.
  beforeAll(() => {
    Object.defineProperty(HTMLElement.prototype, 'clientWidth', {
      configurable: true,
      get: () => 300
    });
  });
  afterAll(() => {
    delete (HTMLElement.prototype as { clientWidth?: number }).clientWidth;
  });
  beforeEach(() => mockUPlot.mockClear());
  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('builds its plot once uPlot loads, and destroys it when disposed', async () => {
    const chart = new TimelineChart(trans, () => undefined);
    document.body.appendChild(chart.node);
    chart.update(series(), null);
    expect(chart.plot).toBeNull();
    await settle();
    expect(mockUPlot).toHaveBeenCalledTimes(1);
    const plot = chart.plot as any;
    expect(plot).not.toBeNull();
    chart.dispose();
    expect(plot.destroy).toHaveBeenCalledTimes(1);
    expect(chart.plot).toBeNull();
    chart.update(series(), null);
    await settle();
    expect(mockUPlot).toHaveBeenCalledTimes(1);
  });

  it('names the cluster’s line in its accessible name once samples carry one', async () => {
    const chart = new TimelineChart(trans, () => undefined);
    document.body.appendChild(chart.node);
    const plot = () => chart.node.querySelector('.jp-oomguard-chart-plot')!;
    const timeline = series();
    chart.update(timeline, null);
    await settle();
    expect(plot().getAttribute('role')).toBe('img');
    expect(plot().getAttribute('aria-label')).toBe(
      'Kernel RAM and VRAM over time, with cell executions shaded'
    );
    timeline.add({ t: T0 + 10, values: { rss: 1e8, cluster: 6e8, clusterLimit: 2e9 } });
    chart.update(timeline, null);
    await settle();
    expect(mockUPlot).toHaveBeenCalledTimes(2); // new series: a new plot
    expect(plot().getAttribute('aria-label')).toBe(
      "Kernel RAM, VRAM and the cluster's memory over time, with cell executions shaded"
    );
    chart.dispose();
  });

  it('builds no plot when disposed before uPlot loads', async () => {
    const chart = new TimelineChart(trans, () => undefined);
    document.body.appendChild(chart.node);
    chart.update(series(), null);
    chart.dispose();
    await settle();
    expect(mockUPlot).not.toHaveBeenCalled();
    expect(chart.plot).toBeNull();
    expect(chart.node.querySelector('.jp-oomguard-chart-plot')!.childElementCount).toBe(0);
  });

  it('is disposed with the Memory panel, before or after uPlot loads', async () => {
    const model = new MemoryModel();
    model.handleMessage(sample({ t: T0, rss: 1e8 }));
    model.handleMessage(sample({ t: T0 + 1, rss: 2e8 }));
    const memory = {
      panel: { title: { label: 'demo.ipynb' } },
      model,
      connection: { attach: jest.fn(), requestVariables: jest.fn() }
    } as unknown as INotebookMemory;

    const early = new MemoryPanel(trans, () => undefined);
    Widget.attach(early, document.body);
    early.memory = memory;
    early.dispose();
    await settle();
    expect(mockUPlot).not.toHaveBeenCalled();

    const late = new MemoryPanel(trans, () => undefined);
    Widget.attach(late, document.body);
    late.memory = memory;
    await settle();
    expect(mockUPlot).toHaveBeenCalledTimes(1);
    const plot = mockUPlot.mock.instances[0];
    late.dispose();
    expect(plot.destroy).toHaveBeenCalledTimes(1);
  });
});

describe('chart helpers', () => {
  const span = (start: number, end: number | null): ICellSpan => ({
    execution_count: start,
    cell_id: `c${start}`,
    start,
    end
  });

  it('finds the spans inside the time range', () => {
    const spans = [span(0, 5), span(10, 15), span(20, 25), span(30, null)];
    const at = (min: number, max: number) => visibleSpans({ scales: { x: { min, max } } } as any, spans);
    expect(at(0, 100)).toEqual([0, 4]);
    expect(at(12, 22)).toEqual([1, 3]);
    expect(at(16, 19)).toEqual([2, 2]);
    expect(at(26, 27)).toEqual([3, 3]);
    expect(at(40, 50)).toEqual([3, 4]);
    expect(at(-10, -5)).toEqual([0, 0]);
  });

  it('keeps the limit line off the axis until readings come near it', () => {
    const GiB = 2 ** 30;
    const far = { data: [[0, 1], [0.3 * GiB, 0.3 * GiB], [24 * GiB, 24 * GiB]] } as any;
    expect(yTop(far, 2)).toBeCloseTo(0.33 * GiB);
    const near = { data: [[0, 1], [1.5 * GiB, 1.8 * GiB], [2 * GiB, 2 * GiB]] } as any;
    expect(yTop(near, 2)).toBeCloseTo(2.2 * GiB);
    expect(yTop({ data: [[0], [null]] } as any, 0)).toBe(1);
  });

  it('shows the latest reading in the legend while the pointer is off the chart', () => {
    const setLegend = jest.fn();
    const u = (idx: number | null) =>
      ({ cursor: { idx }, data: [[T0, T0 + 1, T0 + 2], [1, 2, 3]], setLegend }) as any;
    legendAtLatest(u(null));
    expect(setLegend).toHaveBeenCalledWith({ idx: 2 }, false); // not fired again
    setLegend.mockClear();
    legendAtLatest(u(1)); // the pointer is over the second point: its values
    expect(setLegend).not.toHaveBeenCalled();
    legendAtLatest({ cursor: { idx: null }, data: [[]], setLegend } as any);
    expect(setLegend).not.toHaveBeenCalled();
    // The chart's options run it after uPlot's own legend update, besides their hooks.
    const own = jest.fn();
    const options = chartOptions(['rss'], 300, trans, () => ({}) as any, { setLegend: [own] });
    expect(options.hooks?.setLegend).toEqual([own, legendAtLatest]);
  });
});
