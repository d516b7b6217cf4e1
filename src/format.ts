/**
 * Human-readable figures. Binary units throughout (GiB, not GB), because the limits
 * users compare against — cgroup `memory.max`, Colab's 12.7 GiB — are binary.
 */


const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** "512.0 MiB"; null (not measured) becomes an em dash. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '—';
  }
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 ? 0 : value >= 100 ? 0 : 1;
  return `${sign}${value.toFixed(digits)} ${UNITS[unit]}`;
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
