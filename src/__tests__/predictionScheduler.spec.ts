/**
 * When the cell being edited is sent for prediction, and what its editor then shows:
 * EditorMarks (with its PredictionScheduler) on a real MemoryModel, with stand-ins for
 * the notebook (active cell, source edits) and the session (kernel status), and the
 * timers faked so the debounce can be stepped through.
 */
import { Signal } from '@lumino/signaling';
import { MemoryModel } from '../model/memoryModel';
import { IPredictionMessage } from '../protocol';
import { EditorMarks } from '../views/editorMarks';
import { MAX_NOTE_RETRIES } from '../views/predictionScheduler';
import { cellRecord, fakeSettings, hello, trans } from './fixtures';

const DELAY = 600;
const RISKY = 'import numpy as np\nx = np.zeros((200000, 200000))';

function riskyFinding() {
  return {
    kind: 'dense_constructor',
    line: 2,
    bytes: 320_000_000_000,
    peak_bytes: 320_000_000_000,
    device: 'cpu',
    risky: true,
    message: 'np.zeros (200,000 x 200,000, float64) needs 298 GiB on cpu',
    suggestion: 'Allocate less',
    available: 8 << 30
  };
}

/** A code cell as EditorMarks reads it: id, text, edits, a node; no editor rendered. */
function fakeCell(id: string, text = '') {
  const contentChanged = new Signal<object, void>({});
  const cell = {
    model: {
      id,
      type: 'code',
      contentChanged,
      sharedModel: { getSource: () => text }
    },
    node: document.createElement('div'),
    editor: null,
    /** The user types: the whole text is now `next`. */
    type(next: string) {
      text = next;
      contentChanged.emit();
    }
  };
  return cell;
}

interface ISent {
  id: number;
  source: string;
  cellId: string;
}

function setup() {
  const model = new MemoryModel();
  const cell = fakeCell('cell-a');
  const other = fakeCell('cell-b', 'y = 2');
  const notebook = {
    widgets: [cell, other],
    activeCell: cell as ReturnType<typeof fakeCell> | null,
    activeCellChanged: new Signal<object, unknown>({})
  };
  const kernel = { status: 'idle' };
  const sessionContext = { statusChanged: new Signal<object, string>({}), session: { kernel } };
  const sent: ISent[] = [];
  // As ShimConnection.predict does: number the request and tell the model it is out.
  const predict = (source: string, cellId: string) => {
    const id = sent.length + 1;
    model.predictions.requested(cellId, id, source);
    sent.push({ id, source, cellId });
    return id;
  };
  const { settings, set: setSettings } = fakeSettings({ predictDelay: DELAY });
  model.handleMessage(hello());
  const marks = new EditorMarks(
    { content: notebook, sessionContext } as any,
    { model, connection: { predict } } as any,
    trans,
    settings
  );
  const kernelStatus = (status: string) => {
    kernel.status = status;
    sessionContext.statusChanged.emit(status);
  };
  /** The kernel answers request `request`: with findings, or with a note only. */
  const answer = (request: ISent, overrides: Partial<IPredictionMessage> = {}) =>
    model.handleMessage({
      v: 1,
      type: 'prediction',
      id: request.id,
      cell_id: request.cellId,
      findings: [riskyFinding()],
      free: { cpu: 8 << 30 },
      limit: 16 << 30,
      took: 0.002,
      note: null,
      ...overrides
    });
  const judged = () => cell.node.dataset.oomguardPrediction ?? null;
  const hint = () => cell.node.querySelector('.jp-oomguard-edit-hint');
  /** The user turns predicting while editing on or off. */
  const predictWhileEditing = (on: boolean) => setSettings({ predictWhileEditing: on });
  return { model, cell, notebook, predictWhileEditing, setSettings, marks, sent, kernelStatus, answer, judged, hint };
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('PredictionScheduler (through EditorMarks)', () => {
  it('sends one request for a burst of edits, once the user pauses', async () => {
    const { cell, sent } = setup();
    for (let i = 1; i <= 5; i++) {
      cell.type(RISKY.slice(0, i * 8));
      await jest.advanceTimersByTimeAsync(DELAY / 2);
    }
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(DELAY - 1);
    expect(sent).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(sent).toEqual([{ id: 1, source: RISKY, cellId: 'cell-a' }]);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(sent).toHaveLength(1); // answered or not, the same text is not sent twice
  });

  it('waits for the kernel to be idle, and for the shim to be connected', async () => {
    const { model, cell, sent, kernelStatus } = setup();
    kernelStatus('busy');
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(10 * DELAY);
    expect(sent).toEqual([]);
    model.setStatus('waiting');
    kernelStatus('idle');
    await jest.advanceTimersByTimeAsync(10 * DELAY);
    expect(sent).toEqual([]);
    model.setStatus('connected');
    await jest.advanceTimersByTimeAsync(DELAY);
    expect(sent.map(request => request.source)).toEqual([RISKY]);
  });

  it('shows a judged answer: the risky line hinted, the cell marked risky', async () => {
    const { cell, sent, answer, judged, hint } = setup();
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(DELAY);
    answer(sent[0]);
    expect(judged()).toBe('risky');
    expect(hint()?.textContent).toContain('line 2: would need 298');
    cell.type('x = 1');
    expect(judged()).toBeNull();
    expect(hint()).toBeNull();
    await jest.advanceTimersByTimeAsync(DELAY);
    answer(sent[1], { findings: [] });
    expect(judged()).toBe('clear');
  });

  it('does not call a cell clear on a note, and asks again later, a bounded number of times', async () => {
    const { model, cell, sent, kernelStatus, answer, judged } = setup();
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(DELAY);
    expect(sent).toHaveLength(1);
    for (let retry = 1; retry <= MAX_NOTE_RETRIES; retry++) {
      answer(sent[sent.length - 1], { findings: [], note: 'another prediction is still being made' });
      expect(judged()).toBeNull();
      expect(model.predictions.get('cell-a')).toBeNull();
      // The comm message made the kernel busy and idle again: no request at once.
      kernelStatus('busy');
      kernelStatus('idle');
      await jest.advanceTimersByTimeAsync(DELAY);
      expect(sent).toHaveLength(retry);
      await jest.advanceTimersByTimeAsync(DELAY * 2 ** retry - DELAY);
      expect(sent).toHaveLength(retry + 1);
      expect(sent[retry].source).toBe(RISKY);
    }
    // A kernel that keeps answering with a note is not asked forever.
    answer(sent[sent.length - 1], { findings: [], note: 'the pre-run check is off' });
    kernelStatus('busy');
    kernelStatus('idle');
    await jest.advanceTimersByTimeAsync(600_000);
    expect(sent).toHaveLength(MAX_NOTE_RETRIES + 1);
    expect(judged()).toBeNull();
    // An edit starts afresh, and a judged answer is shown.
    cell.type(RISKY + '\n');
    await jest.advanceTimersByTimeAsync(DELAY);
    expect(sent).toHaveLength(MAX_NOTE_RETRIES + 2);
    answer(sent[sent.length - 1]);
    expect(judged()).toBe('risky');
  });

  it('asks again after a note even when an earlier answer for the text is kept', async () => {
    const { model, cell, sent, answer, judged } = setup();
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(DELAY);
    answer(sent[0]);
    // Another cell ran and finished: the namespace changed, the text is asked again.
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 1, cell_id: 'cell-b', start: 1 });
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'cell-b' }) });
    await jest.advanceTimersByTimeAsync(DELAY);
    expect(sent).toHaveLength(2);
    answer(sent[1], { findings: [], note: 'a cell is running; predicted once it ends' });
    expect(judged()).toBe('risky'); // the kept answer still stands meanwhile
    await jest.advanceTimersByTimeAsync(DELAY * 2);
    expect(sent).toHaveLength(3);
  });

  it('draws the marks again when predicting while editing is turned back on', async () => {
    const { cell, predictWhileEditing, sent, answer, judged, hint } = setup();
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(DELAY);
    answer(sent[0]);
    expect(judged()).toBe('risky');
    predictWhileEditing(false);
    expect(judged()).toBeNull();
    expect(hint()).toBeNull();
    predictWhileEditing(true);
    expect(judged()).toBe('risky');
    expect(hint()?.textContent).toContain('line 2');
    await jest.advanceTimersByTimeAsync(10 * DELAY);
    expect(sent).toHaveLength(1); // the kept answer is for this very text
  });

  it('sends nothing while turned off, and asks about the edited text once back on', async () => {
    const { cell, predictWhileEditing, sent } = setup();
    predictWhileEditing(false);
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(10 * DELAY);
    expect(sent).toEqual([]);
    predictWhileEditing(true);
    await jest.advanceTimersByTimeAsync(DELAY);
    expect(sent.map(request => request.source)).toEqual([RISKY]);
  });

  it('waits as long as the delay the user set, from the next edit on', async () => {
    const { cell, sent, setSettings } = setup();
    setSettings({ predictDelay: 2000 });
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(1999);
    expect(sent).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(sent.map(request => request.source)).toEqual([RISKY]);
  });

  it('asks again after a restart, whose new kernel never answers the old request', async () => {
    const { model, cell, sent, kernelStatus, answer, judged } = setup();
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(DELAY);
    expect(sent).toHaveLength(1);
    // Restarted before answering: the same connection, a new process with another pid.
    kernelStatus('restarting');
    model.setStatus('waiting');
    kernelStatus('starting');
    kernelStatus('idle');
    await jest.advanceTimersByTimeAsync(10 * DELAY);
    expect(sent).toHaveLength(1); // the shim of the new process has not said hello
    model.handleMessage(hello({ pid: 4343 }));
    expect(model.predictions.isPending('cell-a', RISKY)).toBe(false);
    await jest.advanceTimersByTimeAsync(DELAY);
    expect(sent).toHaveLength(2);
    expect(sent[1].source).toBe(RISKY);
    answer(sent[0]); // the old process's answer, had it come: ignored
    expect(judged()).toBeNull();
    answer(sent[1]);
    expect(judged()).toBe('risky');
  });

  it('asks about the cell that becomes active, and stops when disposed', async () => {
    const { notebook, cell, sent, marks } = setup();
    notebook.activeCell = notebook.widgets[1];
    notebook.activeCellChanged.emit(notebook.widgets[1]);
    await jest.advanceTimersByTimeAsync(DELAY);
    expect(sent).toEqual([{ id: 1, source: 'y = 2', cellId: 'cell-b' }]);
    notebook.activeCell = cell;
    notebook.activeCellChanged.emit(cell);
    marks.dispose();
    cell.type(RISKY);
    await jest.advanceTimersByTimeAsync(10 * DELAY);
    expect(sent).toHaveLength(1);
  });
});
