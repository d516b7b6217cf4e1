/** Well-formed kernel messages, with fields to override per test. */
export function sample(overrides: Record<string, unknown> = {}) {
  return {
    v: 1,
    type: 'sample',
    t: 1_700_000_000.5,
    rss: 300 * 2 ** 20,
    children_rss: 0,
    limit: 12.7 * 2 ** 30,
    limit_source: 'cgroup v2',
    used: 2 * 2 ** 30,
    free: 10.7 * 2 ** 30,
    host_total: 64 * 2 ** 30,
    host_available: 50 * 2 ** 30,
    notes: [],
    ...overrides
  };
}

export function hello(overrides: Record<string, unknown> = {}) {
  return {
    v: 1,
    type: 'hello',
    shim_version: '0.1.0',
    pid: 4242,
    interval: 1,
    python: '3.11.7',
    peak_method: 'hwm',
    ...overrides
  };
}
