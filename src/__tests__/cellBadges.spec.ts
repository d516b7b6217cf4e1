import { Signal } from '@lumino/signaling';
import { MemoryModel } from '../model/memoryModel';
import { CellBadges } from '../views/cellBadges';
import { cellRecord, sample, trans } from './fixtures';

/** Just what CellBadges reads of a notebook panel: cell widgets with ids and nodes. */
function fakePanel(ids: string[]) {
  const cells = new Signal<object, void>({});
  const panel = {
    content: {
      widgets: ids.map(id => ({ model: { id }, node: document.createElement('div') })),
      model: { cells: { changed: cells } }
    }
  };
  return { panel, cellsChanged: cells };
}

const badge = (cell: { node: HTMLElement }) =>
  cell.node.querySelector('.jp-oomguard-badge') as HTMLElement | null;

describe('CellBadges', () => {
  it('badges the cell a record names, live while it runs', () => {
    const { panel } = fakePanel(['a', 'b']);
    const model = new MemoryModel();
    new CellBadges(panel as any, model, trans);
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 1, cell_id: 'b', start: 1 });
    const [a, b] = panel.content.widgets;
    expect(badge(b)?.textContent).toBe('running…');
    model.handleMessage(sample({ rss: 300 * 2 ** 20 }));
    expect(badge(b)?.textContent).toBe('running · kernel RAM 300 MiB');
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'b' }) });
    expect(badge(b)?.textContent).toBe('RAM +512 MiB · peak +1.0 GiB · 1.25 s');
    expect(badge(b)?.dataset.state).toBe('ok');
    expect(badge(a)).toBeNull();
  });

  it('draws the badge again on the new widget of a moved cell', async () => {
    const { panel, cellsChanged } = fakePanel(['a']);
    const model = new MemoryModel();
    new CellBadges(panel as any, model, trans);
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'a', status: 'error' }) });
    const moved = { model: { id: 'a' }, node: document.createElement('div') };
    panel.content.widgets = [moved];
    cellsChanged.emit();
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(badge(moved)?.textContent).toContain('error');
  });

  it('replaces the badge on a re-run instead of adding one', () => {
    const { panel } = fakePanel(['a']);
    const model = new MemoryModel();
    new CellBadges(panel as any, model, trans);
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'a' }) });
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'a', ram_delta: 0 }) });
    const node = panel.content.widgets[0].node;
    expect(node.querySelectorAll('.jp-oomguard-badge')).toHaveLength(1);
    expect(badge(panel.content.widgets[0])?.textContent).toContain('RAM +0 B');
  });

  it('marks the cell that was running when the kernel died', () => {
    const { panel } = fakePanel(['a']);
    const model = new MemoryModel();
    new CellBadges(panel as any, model, trans);
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 3, cell_id: 'a', start: 1 });
    // The case: the badge said "kernel RAM 891 MiB", the session used 1.8 GiB.
    model.handleMessage(
      sample({ rss: 891 * 2 ** 20, used: Math.round(1.8 * 2 ** 30), limit: 23.5 * 2 ** 30 })
    );
    model.recordKernelDeath();
    const node = badge(panel.content.widgets[0]);
    expect(node?.dataset.state).toBe('died');
    // Under the cell itself: its prompt shows "[ ]:" after the restart, not "[3]".
    expect(node?.textContent).toBe(
      'The kernel died while this cell ran, with the session at 1.8 GiB of its 23.5 GiB limit (this kernel: 891 MiB).'
    );
    // Status text, named as oomguard's among the cell's parts.
    expect(node?.getAttribute('role')).toBe('status');
    expect(node?.getAttribute('aria-label')).toBe('Memory of this cell (oomguard)');
  });
});
