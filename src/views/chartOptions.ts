import type { TranslationBundle } from '@jupyterlab/translation';
import type uPlot from 'uplot';
import { formatBytes } from '../format';
import { CLUSTER, CLUSTER_LIMIT, LIMIT, RSS } from '../model/timelineSeries';
import type { IPalette } from './chartPalette';

/** Height of the plot, CSS pixels; the width follows the sidebar. */
export const CHART_HEIGHT = 160;

/** Tick steps of the byte axis in binary units, so ticks read "256 MiB", not "191 MiB". */
export const BYTE_STEPS = [0, 10, 20, 30, 40].flatMap(shift =>
  [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].map(n => n * 2 ** shift)
);

/**
 * uPlot's options for the series `keys` (as TimelineSeries names them). Colours
 * are functions of `palette`, so a redraw after a theme switch picks up the new
 * ones; `hooks` draw the cell spans.
 */
export function chartOptions(
  keys: readonly string[],
  width: number,
  trans: TranslationBundle,
  palette: () => IPalette,
  hooks: uPlot.Hooks.Arrays
): uPlot.Options {
  const bytes = (_: uPlot, value: number | null) => formatBytes(value);
  const line = (label: string, stroke: () => string, width = 1.5, dash?: number[]) => ({
    label,
    stroke,
    width,
    ...(dash ? { dash } : {}),
    points: { show: false },
    value: bytes
  });
  const lines: uPlot.Series[] = keys.map(key => {
    switch (key) {
      case RSS:
        return line(trans.__('Kernel RAM'), () => palette().rss);
      case LIMIT:
        return line(trans.__('RAM limit'), () => palette().limit, 1, [4, 4]);
      case CLUSTER:
        return line(trans.__('Cluster memory'), () => palette().cluster);
      case CLUSTER_LIMIT:
        return line(trans.__('Cluster limit'), () => palette().cluster, 1, [2, 3]);
    }
    const gpu = Number(key.replace(/^gpu/, ''));
    return line(
      trans.__('GPU %1 used', gpu),
      () => palette().gpus[gpu % palette().gpus.length]
    );
  });
  const axisStyle = {
    stroke: () => palette().text,
    font: `10px ${palette().font}`,
    grid: { stroke: () => palette().grid, width: 1 },
    ticks: { stroke: () => palette().grid, width: 1 }
  };
  return {
    width,
    height: CHART_HEIGHT,
    // The panel is narrow: the legend shows the values under the cursor below it, and
    // the latest ones when the pointer is elsewhere.
    legend: { show: true, live: true },
    cursor: { drag: { x: false, y: false, setScale: false } },
    scales: {
      x: { time: true },
      y: {
        range: u => [
          0,
          yTop(u, [keys.indexOf(LIMIT) + 1, keys.indexOf(CLUSTER_LIMIT) + 1])
        ]
      }
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
    hooks: { ...hooks, setLegend: [...(hooks.setLegend ?? []), legendAtLatest] }
  };
}

/**
 * With the pointer off the chart uPlot's legend reads "Time: --  Kernel RAM: —": show
 * the latest reading instead. uPlot sets the legend after each data change and cursor
 * move; this sets it again, at the last point, when the cursor points at none.
 */
export function legendAtLatest(
  u: Pick<uPlot, 'cursor' | 'data' | 'setLegend'>
): void {
  const last = u.data[0].length - 1;
  if (u.cursor.idx != null || last < 0) {
    return;
  }
  u.setLegend({ idx: last }, false);
}

/**
 * The top of the byte axis: the highest reading with some headroom. A limit line
 * counts only once readings come within reach of it: a 300 MiB kernel under a
 * 24 GiB limit would otherwise be a flat line at the bottom. `limitIndices` are the
 * limits' columns in `u.data` (the kernel's and the cluster's; 0: none).
 */
export function yTop(u: Pick<uPlot, 'data'>, limitIndices: number | readonly number[]): number {
  const limits = new Set(typeof limitIndices === 'number' ? [limitIndices] : limitIndices);
  let top = 0;
  const limitTops: number[] = [];
  u.data.forEach((column, i) => {
    if (i === 0) {
      return;
    }
    let highest = 0;
    for (const value of column as (number | null)[]) {
      if (value !== null && value !== undefined) {
        highest = Math.max(highest, value);
      }
    }
    if (limits.has(i)) {
      limitTops.push(highest);
    } else {
      top = Math.max(top, highest);
    }
  });
  const reach = top * 1.5;
  for (const limit of limitTops) {
    if (limit > 0 && limit <= reach) {
      top = Math.max(top, limit);
    }
  }
  return top > 0 ? top * 1.1 : 1;
}
