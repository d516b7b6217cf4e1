import { Widget } from '@lumino/widgets';
import { MemoryModel } from '../model/memoryModel';
import { CellSection } from '../views/cellSection';
import { ChartSection } from '../views/chartSection';
import { ClusterSection } from '../views/clusterSection';
import { GpuSection } from '../views/gpuSection';
import { MemoryPanel } from '../views/memoryPanel';
import { RamSection } from '../views/ramSection';
import { VariablesSection } from '../views/variablesSection';
import { WarningsSection } from '../views/warningsSection';
import {
  cellRecord,
  fakeMemory,
  gpu,
  hello,
  IFakeCell,
  sample,
  trans,
  variable,
  warning
} from './fixtures';

function notebookMemory(model: MemoryModel, label = 'demo.ipynb', cells: IFakeCell[] = []) {
  const { memory, connection, content, setCells } = fakeMemory(model, { label, cells });
  return { memory, content, setCells, ...connection };
}

function showPanel(): MemoryPanel {
  const panel = new MemoryPanel(trans, () => undefined);
  Widget.attach(panel, document.body);
  return panel;
}

describe('MemoryPanel', () => {
  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('says so when no notebook is active', () => {
    const panel = showPanel();
    expect(panel.node.dataset.oomguardState).toBe('no-notebook');
    expect(panel.node.textContent).toContain('No notebook is active.');
    panel.dispose();
  });

  it('renders the newest reading against the limit, live', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    panel.memory = notebookMemory(model).memory;
    model.handleMessage(hello({ pid: 77 }));
    model.handleMessage(
      sample({ rss: 512 * 2 ** 20, limit: 2 * 2 ** 30, limit_source: 'cgroup v1' })
    );
    const rss = panel.node.querySelector('.jp-oomguard-rss') as HTMLElement;
    expect(rss.textContent).toBe('512 MiB');
    expect(rss.dataset.oomguardRss).toBe(String(512 * 2 ** 20));
    expect(panel.node.textContent).toContain('25% of the 2.0 GiB session limit (cgroup v1)');
    expect(panel.node.dataset.oomguardPid).toBe('77');
    const fill = panel.node.querySelector('.jp-oomguard-bar-fill') as HTMLElement;
    expect(fill.style.width).toBe('25%');

    model.handleMessage(sample({ rss: 1024 * 2 ** 20 }));
    expect(rss.textContent).toBe('1.0 GiB');
    panel.dispose();
  });

  it('shows what is wrong, with a reconnect button where that helps', () => {
    const model = new MemoryModel();
    const { memory, attach } = notebookMemory(model);
    const panel = showPanel();
    panel.memory = memory;
    model.setStatus('missing', 'oomguard is not installed. Run %pip install oomguard');
    const status = panel.node.querySelector('.jp-oomguard-status') as HTMLElement;
    expect(status.textContent).toContain('%pip install oomguard');
    expect(status.dataset.state).toBe('missing');
    const button = panel.node.querySelector('.jp-oomguard-reconnect') as HTMLButtonElement;
    expect(button.hidden).toBe(false);
    expect(button.textContent).toBe('Reconnect');
    button.click();
    expect(attach).toHaveBeenCalled();
    panel.dispose();
  });

  it('offers to attach by hand when auto-attach is off', () => {
    const model = new MemoryModel();
    const { memory, attach } = notebookMemory(model);
    const panel = showPanel();
    panel.memory = memory;
    model.setStatus('detached', 'oomguard does not attach to kernels by itself.');
    const button = panel.node.querySelector('.jp-oomguard-reconnect') as HTMLButtonElement;
    expect(button.hidden).toBe(false);
    expect(button.textContent).toBe('Attach');
    button.click();
    expect(attach).toHaveBeenCalled();
    model.setStatus('connected');
    expect(button.hidden).toBe(true);
    panel.dispose();
  });

  it('renders kernel-supplied strings as text, never as HTML', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    panel.memory = notebookMemory(model, '<img src=x onerror=alert(1)>.ipynb').memory;
    const payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
    model.handleMessage(sample({ limit_source: payload, notes: [payload] }));
    model.handleMessage({ v: 1, type: 'error', message: payload });
    expect(panel.node.querySelector('img, script')).toBeNull();
    expect(panel.node.textContent).toContain(payload);
    expect((window as any).__pwned).toBeUndefined();
    panel.dispose();
  });

  it('follows another notebook and stops listening to the old one', () => {
    const first = new MemoryModel();
    const second = new MemoryModel();
    const panel = showPanel();
    panel.memory = notebookMemory(first).memory;
    panel.memory = notebookMemory(second, 'other.ipynb').memory;
    first.handleMessage(sample({ rss: 111 * 2 ** 20 }));
    const rss = panel.node.querySelector('.jp-oomguard-rss') as HTMLElement;
    expect(rss.textContent).toBe('—');
    second.handleMessage(sample({ rss: 222 * 2 ** 20 }));
    expect(rss.textContent).toBe('222 MiB');
    expect(panel.node.textContent).toContain('other.ipynb');
    panel.dispose();
  });

  it('shows each GPU with this kernel and PyTorch figures', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    panel.memory = notebookMemory(model).memory;
    const section = panel.node.querySelector('.jp-oomguard-gpus') as HTMLElement;
    model.handleMessage(sample());
    expect(section.hidden).toBe(true);
    model.handleMessage(sample({ gpus: [] }));
    expect(section.hidden).toBe(false);
    expect(section.textContent).toContain('No GPU visible');
    model.handleMessage(sample({ gpus: [gpu()] }));
    expect(section.textContent).toContain('cuda:0 · NVIDIA T4');
    expect(section.textContent).toContain('3.0 GiB of 15.0 GiB');
    expect(section.textContent).toContain('PyTorch allocated1.5 GiB');
    panel.dispose();
  });

  it('shows the running cell and ranks the cells that ran', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    panel.memory = notebookMemory(model, 'demo.ipynb', [{ id: 'c4', source: 'x = 1' }]).memory;
    const section = panel.node.querySelector('.jp-oomguard-cells') as HTMLElement;
    expect(section.hidden).toBe(true);
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 4, cell_id: 'c4', start: Date.now() / 1000 });
    expect(section.hidden).toBe(false);
    expect(section.textContent).toContain('Cell [4] running');
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ execution_count: 4, cell_id: 'c4' }) });
    const row = section.querySelector('.jp-oomguard-cell') as HTMLElement;
    expect(row.querySelector('.jp-oomguard-cell-place')!.textContent).toBe('cell 1 [4] · 1.25 s');
    expect(row.querySelector('.jp-oomguard-cell-source')!.textContent).toBe('x = 1');
    expect(row.querySelector('.jp-oomguard-cell-peak')!.textContent).toBe('+1.0 GiB');
    expect(row.querySelector('.jp-oomguard-cell-kept')!.textContent).toBe('+512 MiB');
    expect((section.querySelector('.jp-oomguard-running') as HTMLElement).hidden).toBe(true);
    panel.dispose();
  });

  it('asks for a variable scan and lists the largest', () => {
    const model = new MemoryModel();
    const { memory, requestVariables } = notebookMemory(model);
    const panel = showPanel();
    panel.memory = memory;
    model.handleMessage(hello());
    const scan = panel.node.querySelector('.jp-oomguard-scan') as HTMLButtonElement;
    expect(scan.disabled).toBe(false);
    scan.click();
    expect(requestVariables).toHaveBeenCalled();
    model.handleMessage({
      v: 1,
      type: 'variables',
      variables: [variable(), variable({ name: 'view', shared_with: ['adj'] })],
      truncated: false,
      took: 0.004
    });
    const rows = panel.node.querySelectorAll('.jp-oomguard-variable');
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toContain('adj');
    expect(rows[0].textContent).toContain('Tensor (8192, 8192) torch.float32 cpu');
    expect(rows[1].textContent).toContain('256 MiB *');
    panel.dispose();
  });

  it('renders variable names and types from the kernel as text', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    panel.memory = notebookMemory(model).memory;
    const payload = '<img src=x onerror="window.__pwned=3">';
    model.handleMessage({
      v: 1,
      type: 'variables',
      variables: [variable({ name: payload, type: payload, dtype: payload, device: payload, shared_with: [payload] })],
      truncated: true,
      took: 0
    });
    expect(panel.node.querySelector('img')).toBeNull();
    expect(panel.node.textContent).toContain(payload);
    expect((window as any).__pwned).toBeUndefined();
    panel.dispose();
  });
});

describe('MemoryPanel warnings list', () => {
  it('lists leak hints as text and hides the section when there is nothing', () => {
    const model = new MemoryModel();
    const panel = new MemoryPanel(trans, () => undefined);
    Widget.attach(panel, document.body);
    panel.memory = notebookMemory(model).memory;
    const section = panel.node.querySelector('.jp-oomguard-warnings') as HTMLElement;
    expect(section.hidden).toBe(true);
    model.handleMessage({
      v: 1,
      type: 'hints',
      hints: [
        {
          kind: 'autograd_graph',
          name: 'losses',
          message: 'losses keeps 5 autograd graphs <b>alive</b>',
          suggestion: 'append loss.item()',
          bytes: 1024
        }
      ]
    });
    expect(section.hidden).toBe(false);
    expect(section.textContent).toContain('losses keeps 5 autograd graphs <b>alive</b>');
    expect(section.querySelector('b')).toBeNull();
    model.handleMessage({ v: 1, type: 'hints', hints: [] });
    expect(section.hidden).toBe(true);
    panel.dispose();
  });
});

describe('MemoryPanel in a Kubernetes container', () => {
  it('says what one container-wide OOM kill means, only where the kernel says so', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    panel.memory = notebookMemory(model).memory;
    const note = () => panel.node.querySelector('.jp-oomguard-oom-group') as HTMLElement;
    model.handleMessage(hello({ oom_group: false, oom_group_file: '/sys/fs/cgroup/memory.oom.group' }));
    expect(note().hidden).toBe(true);
    model.handleMessage(hello({ pid: 7, oom_group: true, oom_group_file: '/sys/fs/cgroup/memory.oom.group' }));
    expect(note().hidden).toBe(false);
    expect(note().textContent).toContain('memory.oom.group = 1');
    expect(note().textContent).toContain('every other kernel and the Jupyter server');
    expect(note().textContent).toContain('all that stands between you and losing every session');
    expect(note().textContent).toContain('persistent storage');
    expect(note().title).toBe('/sys/fs/cgroup/memory.oom.group');
    model.handleMessage(hello({ pid: 8 })); // an older shim: nothing said
    expect(note().hidden).toBe(true);
    panel.dispose();
  });
});

describe('MemoryPanel renders a section only when what it shows changed', () => {
  const sections = {
    ram: RamSection,
    gpus: GpuSection,
    cluster: ClusterSection,
    timeline: ChartSection,
    cells: CellSection,
    variables: VariablesSection,
    warnings: WarningsSection
  };
  let spies: Record<string, jest.SpyInstance>;
  const counts = () =>
    Object.fromEntries(Object.entries(spies).map(([name, spy]) => [name, spy.mock.calls.length]));
  const reset = () => Object.values(spies).forEach(spy => spy.mockClear());

  beforeEach(() => {
    jest.useFakeTimers();
    spies = Object.fromEntries(
      Object.entries(sections).map(([name, type]) => [name, jest.spyOn(type.prototype, 'render')])
    );
  });
  afterEach(() => {
    Object.values(spies).forEach(spy => spy.mockRestore());
    jest.useRealTimers();
    document.body.innerHTML = '';
  });

  function scannedPanel() {
    const model = new MemoryModel();
    const panel = showPanel();
    panel.memory = notebookMemory(model, 'demo.ipynb', [{ id: 'c1', source: 'x = 1' }]).memory;
    model.handleMessage(hello());
    model.handleMessage(sample({ gpus: [gpu()] }));
    model.handleMessage({ v: 1, type: 'variables', variables: [variable()], truncated: false, took: 0 });
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'c1' }) });
    reset();
    return { model, panel };
  }

  it('a sample: RAM, GPUs, the cluster and the timeline, not the variables table, cells or warnings', () => {
    const { model, panel } = scannedPanel();
    model.handleMessage(sample({ rss: 400 * 2 ** 20, gpus: [gpu()] }));
    expect(counts()).toEqual({ ram: 1, gpus: 1, cluster: 1, timeline: 1, cells: 0, variables: 0, warnings: 0 });
    panel.dispose();
  });

  it('a second passing: no section renders, only the ages move', () => {
    const { model, panel } = scannedPanel();
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 2, cell_id: 'c1', start: Date.now() / 1000 });
    reset();
    const running = panel.node.querySelector('.jp-oomguard-running') as HTMLElement;
    expect(running.textContent).toBe('Cell [2] running for 0 s');
    jest.advanceTimersByTime(5000);
    expect(running.textContent).toBe('Cell [2] running for 5 s');
    expect(panel.node.querySelector('.jp-oomguard-footer-text')!.textContent).toContain(
      'updated 5 s ago'
    );
    expect(counts()).toEqual({ ram: 0, gpus: 0, cluster: 0, timeline: 0, cells: 0, variables: 0, warnings: 0 });
    panel.dispose();
  });

  it('a scan, a record, a warning: each the sections that show it', () => {
    const { model, panel } = scannedPanel();
    model.handleMessage({ v: 1, type: 'variables', variables: [variable()], truncated: false, took: 0 });
    expect(counts()).toEqual({ ram: 0, gpus: 0, cluster: 0, timeline: 0, cells: 0, variables: 1, warnings: 0 });
    reset();
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'c1', start: 2 }) });
    // The record's span on the timeline, its row in the cells; not a watchdog stop.
    expect(counts()).toEqual({ ram: 0, gpus: 0, cluster: 0, timeline: 1, cells: 1, variables: 0, warnings: 0 });
    reset();
    model.handleMessage(warning());
    expect(counts()).toEqual({ ram: 0, gpus: 0, cluster: 0, timeline: 0, cells: 0, variables: 0, warnings: 1 });
    reset();
    model.handleMessage({ v: 1, type: 'hints', hints: [] });
    expect(counts()).toEqual({ ram: 0, gpus: 0, cluster: 0, timeline: 0, cells: 0, variables: 1, warnings: 1 });
    panel.dispose();
  });

  it('hidden, nothing renders; shown again, each section behind renders once', () => {
    const { model, panel } = scannedPanel();
    panel.hide();
    for (let t = 0; t < 10; t++) {
      model.handleMessage(sample({ t: 1_700_000_100 + t, rss: (300 + t) * 2 ** 20 }));
    }
    expect(counts()).toEqual({ ram: 0, gpus: 0, cluster: 0, timeline: 0, cells: 0, variables: 0, warnings: 0 });
    panel.show();
    expect(counts()).toEqual({ ram: 1, gpus: 1, cluster: 1, timeline: 1, cells: 0, variables: 0, warnings: 0 });
    expect(panel.node.querySelector('.jp-oomguard-rss')!.textContent).toBe('309 MiB');
    panel.dispose();
  });
});

describe('MemoryPanel: which cells used the most memory', () => {
  const MiB = 2 ** 20;
  const cells = [
    { id: 'load', source: 'data = load()' },
    { id: 'adj', source: '# dense\nadj = to_dense(edge_index)' },
    { id: 'train', source: 'train(model)' }
  ];
  const run = (model: MemoryModel, cellId: string, count: number, peak: number, kept: number) =>
    model.handleMessage({
      v: 1,
      type: 'cell',
      record: cellRecord({
        cell_id: cellId,
        execution_count: count,
        start: 1_700_000_000 + count,
        ram_peak_delta: peak * MiB,
        ram_delta: kept * MiB
      })
    });
  const places = (panel: MemoryPanel) =>
    [...panel.node.querySelectorAll('.jp-oomguard-cell')].map(
      row => (row as HTMLElement).dataset.cellId
    );

  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('ranks the whole notebook by peak, or by RAM kept, a re-run keeping its latest', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    const { memory } = notebookMemory(model, 'gnn.ipynb', cells);
    panel.memory = memory;
    run(model, 'load', 1, 900, 800);
    run(model, 'adj', 2, 4000, 100);
    run(model, 'train', 3, 1500, 1200);
    for (let count = 4; count < 20; count++) {
      run(model, 'train', count, 1000 + count, 5); // the last runs are all of one cell
    }
    expect(places(panel)).toEqual(['adj', 'train', 'load']);
    const head = (key: string) =>
      panel.node.querySelector<HTMLButtonElement>(`.jp-oomguard-cells button[data-sort-key="${key}"]`)!;
    expect(head('peak').closest('th')!.getAttribute('aria-sort')).toBe('descending');
    head('kept').click();
    expect(places(panel)).toEqual(['load', 'adj', 'train']); // train's latest run kept 5 MiB
    expect(head('kept').closest('th')!.getAttribute('aria-sort')).toBe('descending');
    head('kept').click();
    expect(places(panel)).toEqual(['train', 'adj', 'load']);
    head('cell').click();
    expect(places(panel)).toEqual(['load', 'adj', 'train']);
    panel.dispose();
  });

  it('drops cells deleted from the notebook, and renames moved ones', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    const { memory, setCells } = notebookMemory(model, 'gnn.ipynb', cells);
    panel.memory = memory;
    run(model, 'load', 1, 900, 800);
    run(model, 'adj', 2, 4000, 100);
    setCells([cells[2], cells[0]]); // adj deleted, train moved up
    expect(places(panel)).toEqual(['load']);
    expect(panel.node.querySelector('.jp-oomguard-cell-place')!.textContent).toBe('cell 2 [1] · 1.25 s');
    panel.dispose();
  });

  it('takes the user to a cell from its row', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    const { memory, content } = notebookMemory(model, 'gnn.ipynb', cells);
    panel.memory = memory;
    run(model, 'adj', 2, 4000, 100);
    const link = panel.node.querySelector<HTMLButtonElement>('.jp-oomguard-cell-link')!;
    expect(link.tagName).toBe('BUTTON'); // the keyboard's too: Tab to it, Enter
    expect(link.getAttribute('aria-label')).toBe('Show cell 2 of 3 ("# dense")');
    expect(link.querySelector('.jp-oomguard-cell-source')!.textContent).toBe('# dense');
    link.click();
    expect(content.activeCellIndex).toBe(1);
    expect(content.scrollToItem).toHaveBeenCalledWith(1, 'center');
    panel.dispose();
  });
});

describe('MemoryPanel for assistive technology', () => {
  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('names each section as a region by its heading', () => {
    const panel = showPanel();
    const names = [...panel.node.querySelectorAll('section')].map(section => {
      const heading = document.getElementById(section.getAttribute('aria-labelledby')!);
      return heading?.textContent;
    });
    expect(names).toEqual([
      'Kernel RAM',
      'Warnings',
      'GPU memory',
      'Cluster memory',
      'Timeline',
      'Cells',
      'Variables'
    ]);
    const exports = panel.node.querySelector('.jp-oomguard-exports')!;
    expect(exports.getAttribute('role')).toBe('group');
    expect([...exports.querySelectorAll('button')].map(b => b.getAttribute('aria-label'))).toEqual([
      'Export as CSV',
      'Export as JSON',
      'Export as Trace'
    ]);
    panel.dispose();
  });

  it('says a death with a button to the cell that was running', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    const { memory, content } = notebookMemory(model, 'demo.ipynb', [
      { id: 'a', source: 'import torch' },
      { id: 'b', source: 'x = torch.ones(2**34)' }
    ]);
    panel.memory = memory;
    const status = panel.node.querySelector('.jp-oomguard-status') as HTMLElement;
    expect(status.getAttribute('role')).toBe('status');
    model.setStatus('dead', 'The kernel died.', { cell_id: 'b', execution_count: 5 });
    const button = status.querySelector<HTMLButtonElement>('.jp-oomguard-status-cell')!;
    expect(button.hidden).toBe(false);
    expect(button.textContent).toBe('Show cell 2 of 2 ("x = torch.ones(2**34)")');
    button.click();
    expect(content.activeCellIndex).toBe(1);
    model.setStatus('connected');
    expect(button.hidden).toBe(true);
    panel.dispose();
  });
});
