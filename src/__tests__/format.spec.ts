import {
  formatAge,
  formatBytes,
  formatPercent,
  percentOf,
  severityOf
} from '../format';
import vectors from '../../schema/vectors/format-bytes.json';

describe('formatBytes', () => {
  // One table for the panel and the kernel's texts (python_shim/tests/test_units.py).
  it.each(vectors.cases as [number | null, string][])('%p bytes is %p', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it('shows "not measured" as a dash, never as zero', () => {
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(undefined)).toBe('—');
    expect(formatBytes(NaN)).toBe('—');
  });
});

describe('percentOf and formatPercent', () => {
  it('computes shares', () => {
    expect(percentOf(1, 4)).toBe(25);
    expect(formatPercent(percentOf(1, 4))).toBe('25%');
    expect(formatPercent(percentOf(1, 400))).toBe('0.3%');
  });

  it('is unknown without both figures', () => {
    expect(percentOf(null, 4)).toBeNull();
    expect(percentOf(1, null)).toBeNull();
    expect(percentOf(1, 0)).toBeNull();
    expect(formatPercent(null)).toBe('—');
  });
});

describe('severityOf', () => {
  it('grades against thresholds', () => {
    expect(severityOf(null)).toBe('unknown');
    expect(severityOf(50)).toBe('ok');
    expect(severityOf(80)).toBe('warn');
    expect(severityOf(95)).toBe('critical');
    expect(severityOf(60, 50, 70)).toBe('warn');
  });
});

describe('formatAge', () => {
  it.each([
    [0.2, 'just now'],
    [3.7, '3 s ago'],
    [125, '2 min ago'],
    [7300, '2 h ago'],
    [-1, '—']
  ])('%d s is %s', (seconds, text) => {
    expect(formatAge(seconds)).toBe(text);
  });
});
