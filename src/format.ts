/**
 * Human-readable figures. Binary units throughout (GiB, not GB), because the limits
 * users compare against — cgroup `memory.max`, Colab's 12.7 GiB — are binary.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/**
 * "512 MiB", "1.5 GiB": three significant digits at most, rounded half up; null (not
 * measured) becomes an em dash. The kernel writes bytes the same way (units.py; both
 * are tested on schema/vectors/format-bytes.json; docs/measurements.md, Units).
 */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '—';
  }
  const size = Math.abs(bytes);
  let unit = 0;
  while (unit < UNITS.length - 1 && size >= 1024 ** (unit + 1)) {
    unit++;
  }
  let text = '';
  for (;;) {
    // At most twice: a figure that rounds to 1024 of a unit goes to the next one.
    const scale = 1024 ** unit;
    const tenths = Math.floor((size * 10) / scale + 0.5);
    if (unit > 0 && tenths < 1000) {
      text = `${Math.floor(tenths / 10)}.${tenths % 10}`;
      break;
    }
    const whole = Math.floor(size / scale + 0.5);
    if (whole >= 1024 && unit < UNITS.length - 1) {
      unit++;
      continue;
    }
    text = String(whole);
    break;
  }
  const sign = bytes < 0 && /[1-9]/.test(text) ? '-' : '';
  return `${sign}${text} ${UNITS[unit]}`;
}

/** Share of `part` in `whole` as "42%", or null when either is unknown. */
export function percentOf(
  part: number | null | undefined,
  whole: number | null | undefined
): number | null {
  if (part === null || part === undefined || !whole || whole <= 0) {
    return null;
  }
  return Math.max(0, (part / whole) * 100);
}

export function formatPercent(percent: number | null): string {
  if (percent === null) {
    return '—';
  }
  return percent >= 10 || percent === 0
    ? `${Math.round(percent)}%`
    : `${percent.toFixed(1)}%`;
}

/** How long ago, for "updated 3 s ago". */
export function formatAge(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return '—';
  }
  if (seconds < 1) {
    return 'just now';
  }
  if (seconds < 60) {
    return `${Math.floor(seconds)} s ago`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  return `${Math.floor(seconds / 3600)} h ago`;
}

/** Severity of memory use against a limit, for colouring. */
export type Severity = 'ok' | 'warn' | 'critical' | 'unknown';

export function severityOf(
  percent: number | null,
  warnAt = 80,
  criticalAt = 95
): Severity {
  if (percent === null) {
    return 'unknown';
  }
  if (percent >= criticalAt) {
    return 'critical';
  }
  return percent >= warnAt ? 'warn' : 'ok';
}
