import { MemoryModel } from '../model/memoryModel';
import {
  firstIndexWhere,
  ITimelinePoint,
  pointFromSample,
  spanFromRecord,
  TimelineSeries
} from '../model/timelineSeries';
import { ICellRecord, ISampleMessage } from '../protocol';
import { cellRecord as rawRecord, gpu, sample as rawSample } from './fixtures';

const sample = (o: Record<string, unknown>) => rawSample(o) as unknown as ISampleMessage;
const cellRecord = (o: Record<string, unknown>) => rawRecord(o) as unknown as ICellRecord;

const DAY = 86_400;
const T0 = 1_700_000_000;

function point(t: number, rss: number | null, extra: Record<string, number | null> = {}) {
  return { t, values: { rss, ...extra } } as ITimelinePoint;
}

/** A day of 1 Hz samples: a slow wave with a few one-second spikes and dips. */
function day(series: TimelineSeries): { max: number; min: number } {
  for (let i = 0; i < DAY; i++) {
    let rss = 1e9 + 2e8 * Math.sin(i / 5000);
    if (i === 3_000) {
      rss = 9e9; // a one-second spike early in the day
    }
    if (i === 40_001) {
      rss = 1e6; // a one-second dip
    }
    series.add(point(T0 + i, rss));
  }
  return { max: 9e9, min: 1e6 };
}

function column(series: TimelineSeries, key: string): (number | null)[] {
  const { keys, data } = series.data();
  return data[1 + keys.indexOf(key)];
}

describe('TimelineSeries', () => {
  it('keeps recent points as they came', () => {
    const series = new TimelineSeries({ recent: 10 });
    for (let i = 0; i < 5; i++) {
      series.add(point(T0 + i, i * 100));
    }
    const { data } = series.data();
    expect(data[0]).toEqual([0, 1, 2, 3, 4].map(i => T0 + i));
    expect(column(series, 'rss')).toEqual([0, 100, 200, 300, 400]);
  });

  it('stays bounded over a day of 1 Hz samples', () => {
    const series = new TimelineSeries();
    day(series);
    expect(series.size).toBeLessThanOrEqual(1200 + 2 * 1024);
    expect(series.data().data[0].length).toBe(series.size);
    // Twenty minutes at full resolution, the rest in buckets.
    expect(series.data().data[0].slice(-1200)).toEqual(
      Array.from({ length: 1200 }, (_, i) => T0 + DAY - 1200 + i)
    );
  });

  it('stays bounded over a week, with coarser buckets', () => {
    const series = new TimelineSeries({ recent: 100, buckets: 64 });
    for (let i = 0; i < 7 * DAY; i += 10) {
      series.add(point(T0 + i, i));
    }
    expect(series.size).toBeLessThanOrEqual(100 + 2 * 64);
    expect(series.bucketSeconds).toBeGreaterThan(10);
  });

  it('never loses the global maximum or minimum to decimation', () => {
    const series = new TimelineSeries();
    const { max, min } = day(series);
    const rss = column(series, 'rss') as number[];
    expect(Math.max(...rss)).toBe(max);
    expect(Math.min(...rss)).toBe(min);
    expect(series.extremes('rss')).toEqual({ min, max });
  });

  it('draws the spike near its true time', () => {
    const series = new TimelineSeries();
    day(series);
    const { data } = series.data();
    const at = (column(series, 'rss') as number[]).indexOf(9e9);
    expect(Math.abs(data[0][at] - (T0 + 3_000))).toBeLessThanOrEqual(series.bucketSeconds);
  });

  it('keeps times strictly increasing', () => {
    const series = new TimelineSeries({ recent: 50, buckets: 20, bucketSeconds: 7 });
    for (let i = 0; i < 5000; i++) {
      series.add(point(T0 + i * 0.7, i % 13));
    }
    const times = series.data().data[0];
    for (let i = 1; i < times.length; i++) {
      expect(times[i]).toBeGreaterThan(times[i - 1]);
    }
  });

  it('keeps each bucket\'s extremes in the order they happened', () => {
    const series = new TimelineSeries({ recent: 2, bucketSeconds: 100 });
    series.add(point(T0 + 1, 500)); // high first
    series.add(point(T0 + 2, 100)); // then low
    series.add(point(T0 + 200, 1));
    series.add(point(T0 + 201, 1));
    series.add(point(T0 + 202, 1));
    expect(column(series, 'rss').slice(0, 2)).toEqual([500, 100]);
  });

  it('inserts back-filled older points in time order, without duplicates', () => {
    const series = new TimelineSeries({ recent: 100 });
    for (let i = 50; i < 60; i++) {
      series.add(point(T0 + i, i));
    }
    series.insert([point(T0 + 12, 12), point(T0 + 10, 10), point(T0 + 55, 999)]);
    const { data } = series.data();
    expect(data[0][0]).toBe(T0 + 10);
    expect(data[0][1]).toBe(T0 + 12);
    expect(data[0].length).toBe(12);
    // The reading already held at t=55 wins over the back-filled duplicate.
    expect(column(series, 'rss')).not.toContain(999);
  });

  it('folds back-filled points older than the recent window into buckets', () => {
    const series = new TimelineSeries({ recent: 10, bucketSeconds: 10 });
    for (let i = 1000; i < 1100; i++) {
      series.add(point(T0 + i, 1));
    }
    series.insert([point(T0 + 5, 7e9)]);
    const { data } = series.data();
    expect(data[0][0]).toBe(Math.floor((T0 + 5) / 10) * 10);
    expect(series.extremes('rss')?.max).toBe(7e9);
  });

  it('takes RAM and per-GPU VRAM from samples, null for not measured', () => {
    const series = new TimelineSeries();
    series.add(
      pointFromSample(
        sample({ t: T0, rss: 100, limit: 1000, gpus: [gpu({ index: 1, used: 42 })] })
      )
    );
    series.add(pointFromSample(sample({ t: T0 + 1, rss: null, limit: 1000, gpus: [] })));
    expect(series.keys).toEqual(['rss', 'limit', 'gpu1']);
    expect(column(series, 'gpu1')).toEqual([42, null]);
    expect(column(series, 'rss')).toEqual([100, null]);
  });

  it('keeps cell spans ordered, bounded and replaceable', () => {
    const series = new TimelineSeries({ spans: 3 });
    series.addSpan(spanFromRecord(cellRecord({ execution_count: 2, cell_id: 'b', start: T0 + 20, duration: 5 })));
    series.addSpan(spanFromRecord(cellRecord({ execution_count: 1, cell_id: 'a', start: T0 + 10, duration: 5 })));
    expect(series.spans.map(s => s.execution_count)).toEqual([1, 2]);
    expect(series.spans[1].end).toBe(T0 + 25);
    series.addSpan({ execution_count: 2, cell_id: 'b', start: T0 + 20, end: T0 + 30 });
    expect(series.spans.length).toBe(2);
    expect(series.spans[1].end).toBe(T0 + 30);
    for (let i = 3; i <= 6; i++) {
      series.addSpan({ execution_count: i, cell_id: `c${i}`, start: T0 + 100 * i, end: T0 + 100 * i + 1 });
    }
    expect(series.spans.map(s => s.execution_count)).toEqual([4, 5, 6]);
  });

  it('finds the span under a time', () => {
    const series = new TimelineSeries();
    for (let i = 0; i < 2000; i++) {
      series.addSpan({ execution_count: i, cell_id: `c${i}`, start: T0 + 10 * i, end: T0 + 10 * i + 4 });
    }
    expect(series.spanAt(T0 + 10 * 1234 + 2)?.execution_count).toBe(1234);
    expect(series.spanAt(T0 + 10 * 1234 + 6)).toBeNull();
    expect(series.spanAt(T0 - 1)).toBeNull();
  });

  it('binary-searches for the first item a test holds for', () => {
    const items = [1, 3, 3, 5, 8];
    expect(firstIndexWhere(items, x => x >= 3)).toBe(1);
    expect(firstIndexWhere(items, x => x > 3)).toBe(3);
    expect(firstIndexWhere(items, x => x > 0)).toBe(0);
    expect(firstIndexWhere(items, x => x > 8)).toBe(5);
    expect(firstIndexWhere([], () => true)).toBe(0);
    for (let n = 0; n < 40; n++) {
      const sorted = Array.from({ length: n }, (_, i) => 2 * i);
      for (let t = -1; t <= 2 * n; t++) {
        expect(firstIndexWhere(sorted, x => x > t)).toBe(sorted.filter(x => x <= t).length);
      }
    }
  });
});

describe('MemoryModel timeline', () => {
  it('is fed by samples and cell records', () => {
    const model = new MemoryModel();
    model.handleMessage(rawSample({ t: T0, rss: 123 }));
    model.handleMessage(rawSample({ t: T0 + 1, rss: 456 }));
    model.handleMessage({
      v: 1,
      type: 'cell',
      record: rawRecord({ execution_count: 7, cell_id: 'c7', start: T0, duration: 1 })
    });
    expect(model.readings.timeline.data().data[0]).toEqual([T0, T0 + 1]);
    expect(model.readings.timeline.extremes('rss')).toEqual({ min: 123, max: 456 });
    expect(model.readings.timeline.spans).toEqual([
      { execution_count: 7, cell_id: 'c7', start: T0, end: T0 + 1 }
    ]);
  });
});
