import { Widget } from '@lumino/widgets';
import { MemoryModel } from '../model/memoryModel';
import { INotebookMemory } from '../tokens';
import { MemoryPanel } from '../views/memoryPanel';
import { cellRecord, gpu, hello, sample, trans, variable } from './fixtures';

function notebookMemory(model: MemoryModel, label = 'demo.ipynb') {
  const attach = jest.fn();
  const requestVariables = jest.fn();
  const memory = {
    panel: { title: { label } },
    model,
    connection: { attach, requestVariables }
  } as unknown as INotebookMemory;
  return { memory, attach, requestVariables };
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

  it('shows the running cell and the recent cells', () => {
    const model = new MemoryModel();
    const panel = showPanel();
    panel.memory = notebookMemory(model).memory;
    const section = panel.node.querySelector('.jp-oomguard-cells') as HTMLElement;
    expect(section.hidden).toBe(true);
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 4, cell_id: null, start: Date.now() / 1000 });
    expect(section.textContent).toContain('Cell [4] running');
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ execution_count: 4 }) });
    expect(section.textContent).toContain('[4]');
    expect(section.textContent).toContain('RAM +512 MiB · peak +1.0 GiB · 1.25 s');
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
