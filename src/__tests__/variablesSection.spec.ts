import { MemoryModel } from '../model/memoryModel';
import { VariablesSection } from '../views/variablesSection';
import { fakeMemory, hello, trans, variable } from './fixtures';

const MiB = 2 ** 20;

function sizes(execution_count: number, byName: Record<string, number | null>, truncated = false) {
  return { v: 1, type: 'sizes', execution_count, sizes: byName, truncated };
}

function scanned(): MemoryModel {
  const model = new MemoryModel();
  model.handleMessage(hello());
  model.handleMessage({
    v: 1,
    type: 'variables',
    variables: [
      variable({ name: 'adj', bytes: 256 * MiB }),
      variable({ name: 'losses', type: 'builtins.list', bytes: 40 * MiB, shape: null, dtype: null, device: null }),
      variable({ name: 'x', type: 'numpy.ndarray', bytes: 8 * MiB, shape: [1024, 1024], dtype: 'float64' }),
      variable({ name: 'fresh', type: 'numpy.ndarray', bytes: 1 * MiB })
    ],
    truncated: false,
    took: 0.01
  });
  return model;
}

function names(section: VariablesSection): string[] {
  return [...section.node.querySelectorAll('.jp-oomguard-variable-name')].map(
    cell => cell.textContent ?? ''
  );
}

function sortBy(section: VariablesSection, key: string): void {
  section.node
    .querySelector<HTMLButtonElement>(`button[data-sort-key="${key}"]`)!
    .click();
}

describe('VariablesSection', () => {
  it('lists the largest first, then sorts by any column both ways', () => {
    const section = new VariablesSection(trans, () => undefined);
    section.memory = fakeMemory(scanned()).memory;
    expect(names(section)).toEqual(['adj', 'losses', 'x', 'fresh']);
    sortBy(section, 'name');
    expect(names(section)).toEqual(['adj', 'fresh', 'losses', 'x']);
    expect(section.node.querySelector('th[data-column="what"]')!.getAttribute('aria-sort')).toBe(
      'ascending'
    );
    expect(section.node.querySelector('th[data-column="bytes"]')!.getAttribute('aria-sort')).toBe(
      'none'
    );
    sortBy(section, 'name');
    expect(names(section)).toEqual(['x', 'losses', 'fresh', 'adj']);
    sortBy(section, 'type');
    expect(names(section)[0]).toBe('losses'); // builtins.list before numpy, torch
  });

  it('filters by name or type, and says when nothing matches', () => {
    const section = new VariablesSection(trans, () => undefined);
    section.memory = fakeMemory(scanned()).memory;
    const filter = section.node.querySelector<HTMLInputElement>('.jp-oomguard-variable-filter')!;
    filter.value = 'NUMPY';
    filter.dispatchEvent(new Event('input'));
    expect(names(section)).toEqual(['x', 'fresh']);
    filter.value = 'los';
    filter.dispatchEvent(new Event('input'));
    expect(names(section)).toEqual(['losses']);
    filter.value = 'nothing-like-this';
    filter.dispatchEvent(new Event('input'));
    expect(names(section)).toEqual([]);
    expect(section.node.textContent).toContain('No variable matches "nothing-like-this".');
  });

  it('shows what each variable grew by since the previous cell, and sorts by it', () => {
    const model = scanned();
    const section = new VariablesSection(trans, () => undefined);
    model.handleMessage(sizes(1, { adj: 256 * MiB, losses: 10 * MiB, x: 16 * MiB }));
    model.handleMessage(sizes(2, { adj: 256 * MiB, losses: 40 * MiB, x: 8 * MiB, fresh: MiB }));
    section.memory = fakeMemory(model).memory;
    const growth = (name: string) =>
      [...section.node.querySelectorAll('.jp-oomguard-variable')]
        .find(row => row.querySelector('.jp-oomguard-variable-name')!.textContent === name)!
        .querySelector('.jp-oomguard-variable-growth')!.textContent;
    expect(growth('losses')).toBe('+30.0 MiB');
    expect(growth('x')).toBe('-8.0 MiB');
    expect(growth('adj')).toBe('0');
    expect(growth('fresh')).toBe('new');
    sortBy(section, 'growth');
    expect(names(section)).toEqual(['losses', 'fresh', 'adj', 'x']);
  });

  it('marks variables with a leak hint, with the hint as text', () => {
    const model = scanned();
    const section = new VariablesSection(trans, () => undefined);
    model.handleMessage({
      v: 1,
      type: 'hints',
      hints: [
        {
          kind: 'autograd_graph',
          name: 'losses',
          message: '<b>losses</b> keeps 12 autograd graphs',
          suggestion: 'append loss.item()',
          bytes: 40 * MiB
        }
      ]
    });
    section.memory = fakeMemory(model).memory;
    const row = section.node.querySelector<HTMLElement>('tr[data-leak="autograd_graph"]')!;
    expect(row.querySelector('.jp-oomguard-variable-name')!.textContent).toBe('losses');
    const mark = row.querySelector<HTMLElement>('.jp-oomguard-variable-leak')!;
    expect(mark.title).toBe('<b>losses</b> keeps 12 autograd graphs append loss.item()');
    expect(row.querySelector('b')).toBeNull();
  });
});

describe('MemoryModel and a restarted kernel', () => {
  it('forgets the dead namespace when a hello comes from a new process', () => {
    const model = scanned();
    model.handleMessage(sizes(1, { adj: 10 }));
    model.handleMessage(sizes(2, { adj: 20 }));
    expect(model.variables.growthOf('adj')).toBe(10);
    model.handleMessage(hello({ pid: 9999 }));
    expect(model.variables.scan).toBeNull();
    expect(model.variables.previousSizes).toBeNull();
    model.handleMessage(sizes(1, { adj: 30 }));
    expect(model.variables.growthOf('adj')).toBeNull(); // not "+10 MiB" across two processes
  });
});

describe('VariablesModel.growthOf', () => {
  it('is null until two looks, and when a cut-short look may have missed a name', () => {
    const model = new MemoryModel();
    expect(model.variables.growthOf('a')).toBeNull();
    model.handleMessage(sizes(1, { a: 10 }, true));
    expect(model.variables.growthOf('a')).toBeNull();
    model.handleMessage(sizes(2, { a: 25, b: 5, c: null }));
    expect(model.variables.growthOf('a')).toBe(15);
    expect(model.variables.growthOf('b')).toBeNull(); // the first look was cut short
    expect(model.variables.growthOf('c')).toBeNull();
    model.handleMessage(sizes(3, { a: 25, b: 5, d: 7 }));
    expect(model.variables.growthOf('d')).toBe('new');
    expect(model.variables.growthOf('a')).toBe(0);
    expect(model.variables.previousSizes?.execution_count).toBe(2);
    expect(model.variables.growthOf('constructor')).toBeNull(); // not an inherited property
  });

  it('keeps what is valid of a sizes message that is too large or malformed', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const model = new MemoryModel();
    const many: Record<string, number> = {};
    for (let i = 0; i < 501; i++) {
      many[`v${i}`] = i;
    }
    model.handleMessage(sizes(1, many));
    expect(Object.keys(model.variables.sizes?.sizes ?? {})).toHaveLength(500);
    model.handleMessage(sizes(2, { a: -5, b: 3 }));
    expect(model.variables.sizes?.sizes).toEqual({ a: null, b: 3 }); // a: not measured
    model.handleMessage({ v: 1, type: 'sizes', execution_count: 3, sizes: ['a'], truncated: false });
    expect(model.variables.sizes?.sizes).toEqual({});
    model.handleMessage({ v: 1, type: 'sizes', execution_count: 'four', sizes: {}, truncated: 0 });
    expect(model.variables.sizes).toEqual(expect.objectContaining({ execution_count: null, truncated: true }));
    expect(model.rejectedCount).toBe(0);
    expect(model.repairedCount).toBe(4);
    expect(warn).toHaveBeenCalledTimes(4);
    warn.mockRestore();
  });
});
