/**
 * Predictions while a cell is edited: the `predict` / `prediction` messages and the
 * model's rule that only the newest answer for a cell's current source counts.
 */
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { Signal } from '@lumino/signaling';
import { ShimConnection } from '../kernel/shimConnection';
import { MemoryModel } from '../model/memoryModel';
import {
  IPredictionMessage,
  MAX_PREDICT_SOURCE,
  parseKernelMessage,
  predictMessage
} from '../protocol';
import {
  riskyLinesExtension,
  riskyLinesOf,
  showRiskyLines
} from '../views/riskyLines';
import { hello, trans } from './fixtures';

const RISKY = 'x = np.zeros((200000, 200000))';

function finding(overrides: Record<string, unknown> = {}) {
  return {
    kind: 'dense_constructor',
    line: 1,
    bytes: 320_000_000_000,
    peak_bytes: 320_000_000_000,
    device: 'cpu',
    risky: true,
    message: 'np.zeros (200,000 x 200,000, float64) needs 298 GiB on cpu',
    suggestion: 'Allocate less',
    available: 8 << 30,
    ...overrides
  };
}

function prediction(overrides: Record<string, unknown> = {}): IPredictionMessage {
  return {
    v: 1,
    type: 'prediction',
    id: 1,
    cell_id: 'cell-a',
    findings: [finding()],
    free: { cpu: 8 << 30 },
    limit: 16 << 30,
    took: 0.002,
    note: null,
    ...overrides
  } as IPredictionMessage;
}

describe('the prediction message', () => {
  it('accepts a well-formed answer, with or without a note', () => {
    expect(parseKernelMessage(prediction()).ok).toBe(true);
    expect(parseKernelMessage(prediction({ note: undefined })).ok).toBe(true);
    expect(
      parseKernelMessage(prediction({ findings: [], note: 'a cell is running', cell_id: null }))
        .ok
    ).toBe(true);
  });

  it.each([
    ['a missing id', { id: undefined }],
    ['a fractional id', { id: 1.5 }],
    ['a negative id', { id: -1 }]
  ])('refuses %s: it answers no request', (_, overrides) => {
    expect(parseKernelMessage(prediction(overrides)).ok).toBe(false);
  });

  it.each([
    ['a numeric cell id', { cell_id: 3 }, { cell_id: null }],
    ['an oversize cell id', { cell_id: 'c'.repeat(1001) }, { cell_id: 'c'.repeat(1000) }],
    ['findings that are not a list', { findings: 'risky' }, { findings: [] }],
    ['a finding without a line', { findings: [finding({ line: undefined }), finding()] }, { findings: [finding()] }],
    ['a finding with an HTML object message', { findings: [finding({ message: { html: '<b>' } })] }, { findings: [] }],
    ['too many findings', { findings: Array.from({ length: 201 }, () => finding()) }, { findings: Array.from({ length: 200 }, () => finding()) }],
    ['free that is not an object', { free: 12 }, { free: {} }],
    ['a negative free', { free: { cpu: -1, 'cuda:0': 5 } }, { free: { cpu: null, 'cuda:0': 5 } }],
    ['a negative took', { took: -0.1 }, { took: 0 }],
    ['an oversize note', { note: 'x'.repeat(5000) }, { note: 'x'.repeat(1000) }]
  ])('keeps the rest of an answer with %s', (_, overrides, kept) => {
    const parsed = parseKernelMessage(prediction(overrides));
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.message).toEqual(prediction(kept));
      expect(parsed.problems.length).toBeGreaterThan(0); // said in a console warning
    }
  });
});

describe('predictMessage', () => {
  it('builds a versioned request', () => {
    expect(predictMessage(7, RISKY, 'cell-a')).toEqual({
      v: 1,
      type: 'predict',
      id: 7,
      source: RISKY,
      cell_id: 'cell-a'
    });
  });

  it('refuses what the kernel would drop: an oversize source or cell id, a bad id', () => {
    expect(predictMessage(1, 'x'.repeat(MAX_PREDICT_SOURCE), 'c')).not.toBeNull();
    expect(predictMessage(1, 'x'.repeat(MAX_PREDICT_SOURCE + 1), 'c')).toBeNull();
    expect(predictMessage(1, RISKY, 'c'.repeat(201))).toBeNull();
    expect(predictMessage(-1, RISKY, 'c')).toBeNull();
    expect(predictMessage(0.5, RISKY, 'c')).toBeNull();
  });
});

describe('MemoryModel predictions', () => {
  let model: MemoryModel;
  let changes: string[];

  beforeEach(() => {
    model = new MemoryModel();
    changes = [];
    model.predictions.changed.connect((_, cellId) => changes.push(cellId));
  });

  afterEach(() => model.dispose());

  it('keeps the answer to the newest request, with the source it was made for', () => {
    model.predictions.requested('cell-a', 1, RISKY);
    model.handleMessage(prediction({ id: 1 }));
    const kept = model.predictions.get('cell-a');
    expect(kept?.source).toBe(RISKY);
    expect(kept?.message.findings[0].line).toBe(1);
    expect(changes).toEqual(['cell-a']);
  });

  it('ignores an answer to an older request for the same cell', () => {
    model.predictions.requested('cell-a', 1, RISKY);
    model.predictions.requested('cell-a', 2, 'x = 1');
    model.handleMessage(prediction({ id: 1 }));
    expect(model.predictions.get('cell-a')).toBeNull();
    expect(changes).toEqual([]);
    model.handleMessage(prediction({ id: 2, findings: [] }));
    expect(model.predictions.get('cell-a')?.source).toBe('x = 1');
  });

  it('ignores an answer that arrives after the source changed', () => {
    model.predictions.requested('cell-a', 1, RISKY);
    model.predictions.sourceChanged('cell-a', RISKY + '0');
    model.handleMessage(prediction({ id: 1 }));
    expect(model.predictions.get('cell-a')).toBeNull();
    expect(changes).toEqual([]);
  });

  it('drops a kept answer once the source changes, and says so', () => {
    model.predictions.requested('cell-a', 1, RISKY);
    model.handleMessage(prediction({ id: 1 }));
    model.predictions.sourceChanged('cell-a', RISKY); // the same text: nothing to do
    expect(model.predictions.get('cell-a')).not.toBeNull();
    model.predictions.sourceChanged('cell-a', 'x = 1');
    expect(model.predictions.get('cell-a')).toBeNull();
    expect(changes).toEqual(['cell-a', 'cell-a']);
  });

  it('keeps cells apart and ignores answers nobody asked for', () => {
    model.predictions.requested('cell-a', 1, RISKY);
    model.predictions.requested('cell-b', 2, 'y = 2');
    model.handleMessage(prediction({ id: 2, cell_id: 'cell-b', findings: [] }));
    model.handleMessage(prediction({ id: 9, cell_id: 'cell-c' }));
    model.handleMessage(prediction({ id: 1, cell_id: null }));
    expect(model.predictions.get('cell-b')?.message.findings).toEqual([]);
    expect(model.predictions.get('cell-c')).toBeNull();
    expect(model.predictions.isPending('cell-a', RISKY)).toBe(true);
  });

  it('forgets every prediction when the kernel changes', () => {
    model.predictions.requested('cell-a', 1, RISKY);
    model.handleMessage(prediction({ id: 1 }));
    model.resetKernel();
    expect(model.predictions.get('cell-a')).toBeNull();
    expect(model.predictions.isPending('cell-a', RISKY)).toBe(false);
  });

  it('ends the request on a note-only answer but keeps no prediction from it', () => {
    model.predictions.requested('cell-a', 1, RISKY);
    model.handleMessage(prediction({ id: 1, findings: [], note: 'a cell is running' }));
    expect(model.predictions.get('cell-a')).toBeNull();
    expect(model.predictions.isPending('cell-a', RISKY)).toBe(false);
    expect(model.predictions.unjudged('cell-a')).toEqual({
      cellId: 'cell-a',
      source: RISKY,
      note: 'a cell is running'
    });
    expect(changes).toEqual(['cell-a']);
    model.predictions.requested('cell-a', 2, RISKY);
    model.handleMessage(prediction({ id: 2 }));
    expect(model.predictions.get('cell-a')?.message.findings).toHaveLength(1);
    expect(model.predictions.unjudged('cell-a')).toBeNull();
  });

  it('keeps a judged answer for the same text when a later one judged nothing', () => {
    model.predictions.requested('cell-a', 1, RISKY);
    model.handleMessage(prediction({ id: 1 }));
    model.predictions.requested('cell-a', 2, RISKY);
    model.handleMessage(prediction({ id: 2, findings: [], note: 'another prediction is still being made' }));
    expect(model.predictions.get('cell-a')?.message.id).toBe(1);
    model.predictions.sourceChanged('cell-a', 'x = 1');
    expect(model.predictions.unjudged('cell-a')).toBeNull();
  });

  it('says when it forgets pending requests, even with no answer kept', () => {
    let cleared = 0;
    model.predictions.cleared.connect(() => cleared++);
    model.predictions.requested('cell-a', 1, RISKY);
    model.predictions.clear();
    expect(model.predictions.isPending('cell-a', RISKY)).toBe(false);
    expect(changes).toEqual(['cell-a']);
    expect(cleared).toBe(1);
  });

  it('drops an answer to no request without touching what it kept', () => {
    model.predictions.requested('cell-a', 1, RISKY);
    model.handleMessage(prediction({ id: 'one' }));
    expect(model.predictions.get('cell-a')).toBeNull();
    expect(model.rejectedCount).toBe(1);
  });

  it('keeps an answer without its unreadable finding, and says so', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    model.predictions.requested('cell-a', 1, RISKY);
    model.handleMessage(
      prediction({ id: 1, findings: [finding({ risky: 'yes' }), finding({ line: 3 })] })
    );
    expect(model.predictions.get('cell-a')?.message.findings.map(f => f.line)).toEqual([3]);
    expect(model.rejectedCount).toBe(0);
    expect(model.repairedCount).toBe(1);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('.risky: missing or unreadable'));
    warn.mockRestore();
  });
});

describe('risky line marks', () => {
  function view(doc: string) {
    return new EditorView({ state: EditorState.create({ doc, extensions: [riskyLinesExtension] }) });
  }

  it('marks the given lines, with the tooltip as an attribute, and clears on edit', () => {
    const editor = view('import numpy as np\n' + RISKY + '\nprint(1)');
    showRiskyLines(editor, [{ line: 2, title: '<b>298 GiB</b>' }, { line: 9, title: 'gone' }]);
    expect(riskyLinesOf(editor.state)).toEqual([2]);
    const marked = editor.dom.querySelector('.jp-oomguard-risky-line');
    expect(marked?.textContent).toBe(RISKY);
    expect(marked?.getAttribute('title')).toBe('<b>298 GiB</b>');
    expect(marked?.querySelector('b')).toBeNull();
    editor.dispatch({ changes: { from: 0, insert: '#' } });
    expect(riskyLinesOf(editor.state)).toEqual([]);
    editor.destroy();
  });

  it('replaces the marks with each update', () => {
    const editor = view('a = 1\nb = 2\nc = 3');
    showRiskyLines(editor, [{ line: 1, title: 'a' }, { line: 3, title: 'c' }]);
    expect(riskyLinesOf(editor.state)).toEqual([1, 3]);
    showRiskyLines(editor, []);
    expect(riskyLinesOf(editor.state)).toEqual([]);
    editor.destroy();
  });
});

describe('ShimConnection.predict', () => {
  /** Just enough of a kernel connection for the shim to load and open its comm. */
  function connect() {
    const comm = {
      sent: [] as any[],
      isDisposed: false,
      onMsg: (_: any) => undefined as void,
      onClose: (_: any) => undefined as void,
      open: () => undefined,
      send(data: unknown) {
        this.sent.push(data);
      },
      close: () => undefined
    };
    const kernel = {
      statusChanged: new Signal<any, string>({}),
      info: Promise.resolve({ language_info: { name: 'python' } }),
      requestExecute: () => ({ done: Promise.resolve({ content: { status: 'ok' } }) }),
      createComm: () => comm
    };
    const model = new MemoryModel();
    const sessionContext = { kernelChanged: new Signal<any, any>({}), session: { kernel } };
    const connection = new ShimConnection({
      sessionContext: sessionContext as any,
      model,
      interval: 1,
      trans
    });
    return { comm, model, connection };
  }

  async function settle() {
    for (let i = 0; i < 50; i++) {
      await Promise.resolve();
    }
  }

  it('sends nothing before the shim said hello', async () => {
    const { comm, connection } = connect();
    await settle();
    expect(connection.predict(RISKY, 'cell-a')).toBeNull();
    expect(comm.sent.filter(m => m.type === 'predict')).toEqual([]);
    connection.dispose();
  });

  it('sends numbered requests and hands the newest answer to the model', async () => {
    const { comm, model, connection } = connect();
    await settle();
    comm.onMsg({ content: { data: hello() } });
    const first = connection.predict(RISKY, 'cell-a');
    const second = connection.predict(RISKY + '\n', 'cell-a');
    expect(first).not.toBeNull();
    expect(second).toBe((first as number) + 1);
    expect(comm.sent.filter(m => m.type === 'predict')).toEqual([
      { v: 1, type: 'predict', id: first, source: RISKY, cell_id: 'cell-a' },
      { v: 1, type: 'predict', id: second, source: RISKY + '\n', cell_id: 'cell-a' }
    ]);
    comm.onMsg({ content: { data: prediction({ id: first }) } });
    expect(model.predictions.get('cell-a')).toBeNull(); // an older request's answer
    comm.onMsg({ content: { data: prediction({ id: second }) } });
    expect(model.predictions.get('cell-a')?.source).toBe(RISKY + '\n');
    expect(connection.predict('x'.repeat(MAX_PREDICT_SOURCE + 1), 'cell-a')).toBeNull();
    expect(comm.sent.filter(m => m.type === 'predict')).toHaveLength(2);
    connection.dispose();
  });
});
