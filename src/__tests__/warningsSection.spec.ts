import { MemoryModel } from '../model/memoryModel';
import { warningEntries, WarningsSection } from '../views/warningsSection';
import { cellRecord, fakeMemory, hello, sample, trans, warning } from './fixtures';

const GiB = 2 ** 30;

function busyModel(): MemoryModel {
  const model = new MemoryModel();
  model.handleMessage(hello());
  model.handleMessage(warning({ execution_count: 4, cell_id: 'cell-4', mode: 'warn' }));
  model.handleMessage(warning({ execution_count: null, cell_id: 'cell-5', mode: 'block' }));
  model.handleMessage({
    v: 1,
    type: 'cell',
    record: cellRecord({
      execution_count: 6,
      cell_id: 'cell-6',
      status: 'interrupted',
      stopped_by: 'watchdog',
      notes: ['stopped at 11.0 GiB (92% of a 12.0 GiB limit; kernel RSS, the watchdog acts at 10.8 GiB)']
    })
  });
  model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ execution_count: 7, cell_id: 'cell-7', status: 'interrupted' }) });
  model.handleMessage({
    v: 1,
    type: 'hints',
    hints: [{ kind: 'growth', name: 'chunks', message: 'chunks grew by 24 MiB over 3 cells', suggestion: 'del chunks', bytes: 1 }]
  });
  model.handleMessage({ v: 1, type: 'cell_start', execution_count: 8, cell_id: 'cell-8', start: 1 });
  model.handleMessage(sample({ used: Math.round(11.9 * GiB), limit: 12 * GiB }));
  model.recordKernelDeath();
  return model;
}

describe('warningEntries', () => {
  it('lists deaths, watchdog stops, predictions and leak hints, worst first', () => {
    const entries = warningEntries(busyModel(), trans);
    expect(entries.map(entry => [entry.kind, entry.cell_id])).toEqual([
      ['died', 'cell-8'],
      ['watchdog', 'cell-6'], // a user's own interrupt (cell 7) is not a memory warning
      ['prediction', 'cell-5'],
      ['prediction', 'cell-4'],
      ['leak', 'cell-7'] // the last cell that had ended when the hint came
    ]);
    expect(entries[1].detail).toMatch(/^stopped at 11.0 GiB/);
    expect(entries[2].title).toBe('Blocked before it ran: cell [ ]');
    expect(entries[3].detail).toBe(
      'Line 3: 40.2 GiB predicted on cpu, 12.0 GiB free. ' +
        'Build edge_index directly; keep the adjacency sparse.'
    );
  });

  it('says what the default mode (auto) decided, and on what size', () => {
    const model = new MemoryModel();
    const exact = { ...warning().findings[0], exact: true };
    model.handleMessage(warning({ setting: 'auto', cell_id: 'b', findings: [exact] }));
    model.handleMessage(
      warning({ setting: 'auto', mode: 'warn', cell_id: 'c', findings: [{ ...exact, exact: false }] })
    );
    const [warned, blocked] = warningEntries(model, trans);
    expect(blocked.title).toBe('Blocked before it ran, its exact size cannot fit: cell [5]');
    expect(blocked.detail).toMatch(/^Line 3: 40.2 GiB predicted on cpu \(exact size\), 12.0 GiB free\. /);
    expect(warned.title).toBe('Predicted not to fit, and ran: cell [5]');
    expect(warned.detail).toMatch(/\(an estimate\)/);
  });
});

describe('WarningsSection', () => {
  it('reveals the cell an entry is about, and renders kernel strings as text', () => {
    const model = busyModel();
    model.handleMessage(
      warning({ cell_id: '<img src=x onerror="window.__pwned=1">', execution_count: 9 })
    );
    const revealed: unknown[] = [];
    const section = new WarningsSection(trans, cell => revealed.push(cell));
    section.memory = fakeMemory(model).memory;
    const links = section.node.querySelectorAll<HTMLButtonElement>('.jp-oomguard-warning-link');
    expect(links).toHaveLength(6);
    links[1].click();
    expect(revealed).toEqual([{ execution_count: 6, cell_id: 'cell-6' }]);
    expect(section.node.querySelector('img')).toBeNull();
    expect((window as any).__pwned).toBeUndefined();
    expect(section.node.hidden).toBe(false);
  });

  it('is hidden when there is nothing to warn about', () => {
    const section = new WarningsSection(trans, () => undefined);
    section.memory = fakeMemory(new MemoryModel()).memory;
    expect(section.node.hidden).toBe(true);
  });

  it('shows what arrives after the first render, from the model\'s signals', () => {
    const model = new MemoryModel();
    const section = new WarningsSection(trans, () => undefined);
    section.memory = fakeMemory(model).memory;
    expect(section.node.hidden).toBe(true);
    model.handleMessage({
      v: 1,
      type: 'cell',
      record: cellRecord({ status: 'interrupted', stopped_by: 'watchdog', notes: ['stopped at 1 GiB'] })
    });
    expect(section.node.hidden).toBe(false);
    expect(section.node.querySelectorAll('.jp-oomguard-warning-entry')).toHaveLength(1);
    model.handleMessage(warning());
    expect(section.node.querySelectorAll('.jp-oomguard-warning-entry')).toHaveLength(2);
  });

  it('names cells by their place in the notebook and their first line', () => {
    const model = busyModel();
    const section = new WarningsSection(trans, () => undefined);
    const { setCells, memory } = fakeMemory(model, {
      cells: [
        { id: 'cell-8', source: '\nhoard = torch.ones(2**31, dtype=torch.uint8)  # 2 GiB' },
        { id: 'cell-6', source: 'train()' }
      ]
    });
    section.memory = memory;
    const titles = () =>
      [...section.node.querySelectorAll('.jp-oomguard-warning-entry-title')].map(t => t.textContent);
    expect(titles().slice(0, 3)).toEqual([
      'Kernel died in cell 1 of 2 ("hoard = torch.ones(2**31, dtype…")',
      'Watchdog stopped cell 2 of 2 ("train()")',
      'Blocked before it ran: cell [ ]' // a cell no longer in the notebook
    ]);
    expect(section.node.querySelector('.jp-oomguard-warning-entry-detail')!.textContent).toMatch(
      /^The kernel died while cell 1 of 2 \("hoard = torch\.ones\(2\*\*31, dtype…"\) ran, with the session at/
    );
    // A cell added above moves them: the names follow.
    setCells([
      { id: 'new', source: 'import torch' },
      { id: 'cell-8', source: 'hoard = 1' },
      { id: 'cell-6', source: 'train()' }
    ]);
    expect(titles()[0]).toBe('Kernel died in cell 2 of 3 ("hoard = 1")');
  });
});
