import { MemoryModel } from '../model/memoryModel';
import { parseKernelMessage } from '../protocol';
import { CellWarnings } from '../views/cellWarnings';
import { trans, warning } from './fixtures';

function fakePanel() {
  return {
    content: { widgets: [{ model: { id: 'a' }, node: document.createElement('div') }] }
  };
}

describe('warning messages', () => {
  it('validates', () => {
    expect(parseKernelMessage(warning()).ok).toBe(true);
    expect(parseKernelMessage(warning({ mode: 'maybe' })).ok).toBe(false);
    const free = parseKernelMessage(warning({ free: { cpu: -1 } }));
    expect(free.ok && free.message).toEqual(warning({ free: { cpu: null } }));
    const findings = parseKernelMessage(warning({ findings: [{ line: 'x' }] }));
    expect(findings.ok && findings.message).toEqual(warning({ findings: [] }));
  });
});

describe('CellWarnings', () => {
  it('shows the prediction against what is free, and runs anyway on request', async () => {
    const panel = fakePanel();
    const model = new MemoryModel();
    const runAnyway = jest.fn(() => Promise.resolve());
    new CellWarnings(panel as any, model, trans, runAnyway);
    model.handleMessage(warning());
    const banner = panel.content.widgets[0].node.querySelector('.jp-oomguard-warning') as HTMLElement;
    expect(banner.dataset.mode).toBe('block');
    expect(banner.textContent).toContain('stopped this cell before it ran');
    expect(banner.textContent).toContain('Line 3: 40.2 GiB predicted on cpu, 12.0 GiB free.');
    expect(banner.textContent).toContain('keep the adjacency sparse');
    (banner.querySelector('.jp-oomguard-run-anyway') as HTMLButtonElement).click();
    expect(runAnyway).toHaveBeenCalledWith('a');
  });

  it('has no run-anyway button in warn mode, and goes when the cell runs again', () => {
    const panel = fakePanel();
    const model = new MemoryModel();
    new CellWarnings(panel as any, model, trans, () => Promise.resolve());
    model.handleMessage(warning({ mode: 'warn' }));
    const node = panel.content.widgets[0].node;
    expect(node.querySelector('.jp-oomguard-run-anyway')).toBeNull();
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 6, cell_id: 'a', start: 1 });
    expect(node.querySelector('.jp-oomguard-warning')).toBeNull();
  });

  it('renders kernel text as text', () => {
    const panel = fakePanel();
    const model = new MemoryModel();
    new CellWarnings(panel as any, model, trans, () => Promise.resolve());
    const html = '<img src=x onerror="window.__pwned=4">';
    model.handleMessage(
      warning({ findings: [{ ...warning().findings[0], message: html, suggestion: html, device: html }] })
    );
    const node = panel.content.widgets[0].node;
    expect(node.querySelector('img')).toBeNull();
    expect(node.textContent).toContain(html);
  });
});
