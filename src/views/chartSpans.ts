import type uPlot from 'uplot';
import { firstIndexWhere, ICellSpan } from '../model/timelineSeries';
import type { IPalette } from './chartPalette';

/*
 * Cells drawn on the chart's canvas: each execution shaded behind the lines and,
 * where there is room, labelled with its execution count. Pure functions of the
 * plot, the spans (ordered by start, not overlapping) and the palette.
 */

/** "[12]", or "[ ]" for a cell run without an execution count. */
export function spanLabel(span: ICellSpan): string {
  return `[${span.execution_count ?? ' '}]`;
}

/** The spans inside the plot's time range, as [index of first, index past last]. */
export function visibleSpans(
  u: Pick<uPlot, 'scales'>,
  spans: readonly ICellSpan[]
): [number, number] {
  const min = u.scales.x.min ?? -Infinity;
  const max = u.scales.x.max ?? Infinity;
  const first = firstIndexWhere(spans, span => (span.end ?? Infinity) >= min);
  const end = firstIndexWhere(spans, span => span.start > max);
  return [first, Math.max(first, end)];
}

/** Shade each visible span; called before the lines are drawn over them. */
export function drawSpans(u: uPlot, spans: readonly ICellSpan[], palette: IPalette): void {
  const { ctx, bbox } = u;
  const [first, end] = visibleSpans(u, spans);
  const xMax = u.scales.x.max ?? 0;
  ctx.save();
  ctx.beginPath();
  ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height);
  ctx.clip();
  let painted = -Infinity;
  for (let i = first; i < end; i++) {
    const span = spans[i];
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
export function drawLabels(u: uPlot, spans: readonly ICellSpan[], palette: IPalette): void {
  const { ctx, bbox } = u;
  const [first, end] = visibleSpans(u, spans);
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
    const span = spans[i];
    const left = Math.max(bbox.left, u.valToPos(span.start, 'x', true));
    const right = Math.min(bbox.left + bbox.width, u.valToPos(span.end ?? xMax, 'x', true));
    if (right - left < narrowest || left <= lastRight) {
      continue;
    }
    const text = spanLabel(span);
    const textWidth = ctx.measureText(text).width;
    // Label where it fits, never on top of the previous label.
    if (right - left >= textWidth + 2 * ratio) {
      ctx.fillText(text, left + ratio, bbox.top + 2 * ratio);
      lastRight = left + textWidth + ratio;
    }
  }
  ctx.restore();
}
