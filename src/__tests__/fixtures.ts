import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import { OomguardSettings } from '../settings';
import { Signal } from '@lumino/signaling';
import type { INotebookMemory } from '../tokens';
import type { TranslationBundle } from '@jupyterlab/translation';

const fill = (text: string, args: unknown[]) =>
  text.replace(/%(\d+)/g, (_, n) => String(args[Number(n) - 1]));

/**
 * Like JupyterLab's null translator: fills %1, %2… and translates nothing; in plurals,
 * %1 is the count, as in JupyterLab's gettext.
 */
export const trans = {
  __: (text: string, ...args: unknown[]) => fill(text, args),
  _n: (singular: string, plural: string, n: number, ...args: unknown[]) =>
    fill(n === 1 ? singular : plural, [n, ...args])
} as unknown as TranslationBundle;

/**
 * Well-formed kernel messages, with fields to override per test (valid against
 * schema/protocol.json as sent: protocolSchema.spec.ts checks).
 */
export function sample(overrides: Record<string, unknown> = {}) {
  return {
    v: 1,
    type: 'sample',
    t: 1_700_000_000.5,
    rss: 300 * 2 ** 20,
    children_rss: 0,
    limit: Math.round(12.7 * 2 ** 30),
    limit_source: 'cgroup v2',
    used: 2 * 2 ** 30,
    free: Math.round(10.7 * 2 ** 30),
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

export function gpu(overrides: Record<string, unknown> = {}) {
  return {
    index: 0,
    uuid: 'GPU-1234',
    name: 'NVIDIA T4',
    used: 3 * 2 ** 30,
    total: 15 * 2 ** 30,
    process_used: 2 * 2 ** 30,
    torch_allocated: 1.5 * 2 ** 30,
    torch_reserved: 2 * 2 ** 30,
    source: 'nvml',
    ...overrides
  };
}

export function cellRecord(overrides: Record<string, unknown> = {}) {
  return {
    execution_count: 3,
    cell_id: 'abc-123',
    start: 1_700_000_000,
    duration: 1.25,
    ram_before: 100 * 2 ** 20,
    ram_after: 612 * 2 ** 20,
    ram_peak: 1124 * 2 ** 20,
    ram_delta: 512 * 2 ** 20,
    ram_peak_delta: 1024 * 2 ** 20,
    peak_method: 'hwm',
    container_peak: null,
    gpu: [],
    status: 'ok',
    findings: [],
    notes: [],
    ...overrides
  };
}

const MiB = 2 ** 20;

/**
 * A cell's `cluster` as the shim sends it for a Dask cluster of two 1 GiB workers that
 * grew by 384 MiB (docs/protocol.md, CellRecord `cluster`).
 */
export function clusterRecord(overrides: Record<string, unknown> = {}) {
  return {
    engine: 'dask',
    scheduler: 'tcp://127.0.0.1:40111',
    workers: 2,
    before: 210 * MiB,
    after: 594 * MiB,
    peak: 600 * MiB,
    limit: 2 * 2 ** 30,
    per_worker: { 'tcp://127.0.0.1:40201': 300 * MiB, 'tcp://127.0.0.1:40202': 300 * MiB },
    restarted: [],
    lost: [],
    notes: ['sampled every 0.5 s through the scheduler; the last sample was 0.3 s old'],
    ...overrides
  };
}

/** A worker its nanny restarted for memory while the cell ran. */
export function restartedWorker(overrides: Record<string, unknown> = {}) {
  return {
    worker: 'tcp://127.0.0.1:40201',
    reason:
      'its nanny restarted it for exceeding the memory limit (distributed.worker.memory.terminate)',
    t: 1_700_000_001,
    rss: 980 * MiB,
    limit: 2 ** 30,
    task: 'hog-4f1c',
    pid: 4321,
    ...overrides
  };
}

export function variable(overrides: Record<string, unknown> = {}) {
  return {
    name: 'adj',
    type: 'torch.Tensor',
    bytes: 256 * 2 ** 20,
    device: 'cpu',
    shape: [8192, 8192],
    dtype: 'torch.float32',
    shared_with: [],
    truncated: false,
    grad_bytes: null,
    notes: [],
    ...overrides
  };
}

const GiB = 2 ** 30;

/** A pre-run warning about one risky finding (block mode). */
export function warning(overrides: Record<string, unknown> = {}) {
  return {
    v: 1,
    type: 'warning',
    findings: [
      {
        kind: 'dtype_copy',
        line: 3,
        bytes: Math.round(13.4 * GiB),
        peak_bytes: Math.round(40.2 * GiB),
        device: 'cpu',
        risky: true,
        message: 'Line 3: converting int64 to float32 (a copy; both alive at once)',
        suggestion: 'Build edge_index directly; keep the adjacency sparse.',
        available: 12 * GiB
      }
    ],
    execution_count: 5,
    cell_id: 'a',
    mode: 'block',
    free: { cpu: 12 * GiB, 'cuda:0': null },
    limit: Math.round(12.7 * GiB),
    ...overrides
  };
}

/** A small RFC 4180 reader, to check exported files parse back. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else {
      field += c;
    }
  }
  return rows;
}

/** A notebook cell as the views read it: id, type, source, execution count, node. */
export interface IFakeCell {
  id: string;
  source?: string;
  type?: string;
  executionCount?: number | null;
}

/**
 * A notebook's memory as the views read it: the model, a stand-in notebook (cells with
 * ids and sources, a `cells.changed` to say that cells came or went, and what
 * scrollToCell calls) and connection.
 */
export function fakeMemory(
  model: unknown,
  options: { label?: string; cells?: IFakeCell[] } = {}
) {
  const cellsChanged = new Signal<object, void>({});
  const widgets = (options.cells ?? []).map(cell => ({
    model: {
      id: cell.id,
      type: cell.type ?? 'code',
      executionCount: cell.executionCount ?? null,
      sharedModel: { getSource: () => cell.source ?? '' }
    },
    node: document.createElement('div')
  }));
  const content = {
    widgets,
    model: { cells: { changed: cellsChanged } },
    activeCellIndex: -1,
    deselectAll: jest.fn(),
    scrollToItem: jest.fn(async () => undefined)
  };
  const connection = { attach: jest.fn(), requestVariables: jest.fn() };
  const memory = {
    panel: { title: { label: options.label ?? 'demo.ipynb' }, content },
    model,
    connection
  } as unknown as INotebookMemory;
  /** The notebook's cells are now `cells` (as after an insertion or a deletion). */
  const setCells = (cells: IFakeCell[]) => {
    const next = fakeMemory(model, { cells }).memory.panel.content.widgets;
    widgets.splice(0, widgets.length, ...(next as unknown as typeof widgets));
    cellsChanged.emit();
  };
  return { memory, content, connection, setCells };
}

/**
 * The extension's settings following a stand-in for the registry's settings object
 * (what the registry hands out once the schema validated the user's values): `set`
 * changes values as the settings editor would.
 */
export function fakeSettings(values: Record<string, unknown> = {}) {
  const settings = new OomguardSettings();
  let composite: Record<string, unknown> = {
    autoAttach: true,
    sampleInterval: 1,
    warnPercent: 80,
    criticalPercent: 95,
    predictWhileEditing: true,
    predictDelay: 600,
    recordsInMetadata: false,
    ...values
  };
  const changed = new Signal<object, void>({});
  settings.follow({
    get composite() {
      return composite;
    },
    changed
  } as unknown as ISettingRegistry.ISettings);
  const set = (next: Record<string, unknown>) => {
    composite = { ...composite, ...next };
    changed.emit();
  };
  return { settings, set };
}
