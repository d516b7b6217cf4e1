import { MemoryModel } from '../model/memoryModel';
import { parseKernelMessage } from '../protocol';
import { CellWarnings } from '../views/cellWarnings';
import { cellRecord, trans, warning } from './fixtures';

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

  it('keeps what it understands of the fields the auto mode added', () => {
    const auto = warning({ setting: 'auto', single_call: true, page_cache: 2 ** 30 });
    expect(parseKernelMessage(auto)).toEqual({ ok: true, message: auto, problems: [] });
    // A bad added field is left out, never the message.
    const bad = parseKernelMessage(warning({ setting: 'later', single_call: 'yes' }));
    expect(bad.ok && bad.message).toEqual(warning());
    const exact = warning().findings[0];
    const parsed = parseKernelMessage(warning({ findings: [{ ...exact, exact: 'maybe' }] }));
    expect(parsed.ok && parsed.message).toEqual(warning());
  });
});

const GiB = 2 ** 30;

function banner(...messages: Record<string, unknown>[]) {
  const panel = fakePanel();
  const model = new MemoryModel();
  new CellWarnings(panel as any, model, trans, () => Promise.resolve());
  messages.forEach(message => model.handleMessage(message));
  return panel.content.widgets[0].node.querySelector('.jp-oomguard-warning') as HTMLElement;
}

describe('CellWarnings in the default mode (auto)', () => {
  const exact = { ...warning().findings[0], exact: true };
  const estimate = { ...warning().findings[0], line: 4, exact: false };

  it('says an exact size cannot fit, and offers to run it anyway', () => {
    const shown = banner(warning({ setting: 'auto', findings: [estimate, exact] }));
    expect(shown.dataset.setting).toBe('auto');
    expect(shown.textContent).toContain(
      'oomguard stopped this cell before it ran: its exact size cannot fit in what the session can have'
    );
    expect(shown.textContent).toContain('Line 3: 40.2 GiB predicted on cpu (exact size), 12.0 GiB free.');
    expect(shown.textContent).toContain('Line 4: 40.2 GiB predicted on cpu (an estimate), 12.0 GiB free.');
    expect(shown.querySelector('.jp-oomguard-run-anyway')).not.toBeNull();
  });

  it('runs an estimate and says why it was not stopped', () => {
    const shown = banner(warning({ setting: 'auto', mode: 'warn', findings: [estimate] }));
    expect(shown.textContent).toContain(
      'It runs: oomguard stops a cell only when its exact size cannot fit.'
    );
    expect(shown.querySelector('.jp-oomguard-run-anyway')).toBeNull();
  });

  it('says when a finding fits only once page cache is reclaimed', () => {
    const fits = { ...exact, peak_bytes: GiB, risky: false };
    const shown = banner(
      warning({ setting: 'auto', mode: 'warn', findings: [fits], page_cache: 1.5 * GiB })
    );
    expect(shown.textContent).toContain(
      "Line 3: 1.0 GiB predicted on cpu; it fits in the 12.0 GiB free only once the kernel reclaims page cache (1.5 GiB of it counts in the limit's use)"
    );
  });

  it('gives the line that turns the cap on where only the cap can stop one call', () => {
    const ran = banner(warning({ setting: 'auto', mode: 'warn', findings: [estimate], single_call: true }));
    expect(ran.querySelector('.jp-oomguard-warning-cap')?.textContent).toContain(
      'Nothing but the hard cap (or not running the cell) can stop it'
    );
    expect(ran.querySelector('.jp-oomguard-warning-cap-line')?.textContent).toBe(
      'oomguard.enable(hard_cap=True)'
    );
    const blocked = banner(warning({ setting: 'auto', findings: [exact], single_call: true }));
    expect(blocked.querySelector('.jp-oomguard-warning-cap')?.textContent).toContain(
      'If you run it anyway, nothing but the hard cap can stop it'
    );
    expect(banner(warning({ setting: 'auto' })).querySelector('.jp-oomguard-warning-cap')).toBeNull();
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

  it('goes when a short re-run sends only its record, and stays for the run it warned', () => {
    const panel = fakePanel();
    const model = new MemoryModel();
    new CellWarnings(panel as any, model, trans, () => Promise.resolve());
    const node = panel.content.widgets[0].node;
    const start = (count: number) => ({ v: 1, type: 'cell_start', execution_count: count, cell_id: 'a', start: count });
    const record = (count: number) => ({
      v: 1,
      type: 'cell',
      record: cellRecord({ execution_count: count, cell_id: 'a', start: count })
    });
    // The warned run: its cell_start comes before its warning (the shim sends a held
    // cell_start before anything else), then its record; the banner stays.
    [start(6), warning({ mode: 'warn', execution_count: 6 }), record(6)].forEach(message =>
      model.handleMessage(message)
    );
    expect(node.querySelector('.jp-oomguard-warning')).not.toBeNull();
    // A short re-run without a warning: no cell_start, only the record.
    model.handleMessage(record(7));
    expect(node.querySelector('.jp-oomguard-warning')).toBeNull();
    // A short warned (or blocked) run keeps its banner past its record.
    [start(8), warning({ execution_count: 8 }), record(8)].forEach(message =>
      model.handleMessage(message)
    );
    expect(node.querySelector('.jp-oomguard-warning')).not.toBeNull();
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
