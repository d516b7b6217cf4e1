import type { Cell } from '@jupyterlab/cells';
import type { Notebook } from '@jupyterlab/notebook';
import type { ISessionContext } from '@jupyterlab/apputils';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { Signal } from '@lumino/signaling';
import { CellsChange } from '../model/cellsModel';
import { MemoryModel } from '../model/memoryModel';
import { ReadingsChange } from '../model/readingsModel';
import { OomguardSettings } from '../settings';

/**
 * Times an answer that judged nothing (its note: "a cell is running", "another
 * prediction is still being made", "too long"...) is followed by another request for
 * the same text. Some notes do not go away by asking again (the check is off, the
 * cell is too long): the count keeps a kernel that always answers so from being asked
 * forever. An edit, another cell, a finished cell or a restart start the count afresh.
 */
export const MAX_NOTE_RETRIES = 3;

export interface IPredictionSchedulerOptions {
  /** Whose active cell is predicted. */
  notebook: Notebook;
  /** The notebook's kernel: requests go out only while it is idle. */
  sessionContext: ISessionContext;
  model: MemoryModel;
  /** Send a `predict` request (ShimConnection.predict): its id, or null if not sent. */
  predict: (source: string, cellId: string) => number | null;
  /** `predictWhileEditing` and `predictDelay`, as the user set them. */
  settings: OomguardSettings;
}

/**
 * Decides when the cell being edited is sent to the kernel for prediction.
 *
 * Once the user pauses typing (the settings' delay after the last edit), and only while
 * the kernel is idle and the shim connected: a busy kernel would answer only after its
 * cell, so the request waits for the next idle. A text that was answered, or whose
 * request is still out, is not sent again, unless the namespace changed since (a cell
 * finished) or the answer judged nothing (then again later, a few times, each wait
 * twice the last). When the predictions are cleared (a restart, another kernel) the
 * requests still out will never be answered: the cell is asked about afresh.
 *
 * One `Poll` times it all: each reason to ask schedules its next tick (a new schedule
 * replaces the one pending, which is the debounce), its standby is the wait for an idle
 * kernel, and stopping it is turning the feature off. Lumino's own back-off is random
 * (anywhere between the interval and twice the last wait); the re-asks after a note
 * double exactly instead, which is what the user can rely on and the tests check.
 */
export class PredictionScheduler implements IDisposable {
  constructor(options: IPredictionSchedulerOptions) {
    this._notebook = options.notebook;
    this._session = options.sessionContext;
    this._model = options.model;
    this._predict = options.predict;
    this._settings = options.settings;
    this._poll = new Poll({
      auto: false,
      factory: async () => this._ask(),
      frequency: { interval: Poll.NEVER, backoff: false, max: Poll.NEVER },
      // Not while the kernel is busy or the shim not there: the next idle asks again.
      standby: () => !this._canAsk(),
      name: 'oomguard:predict-while-editing'
    });
    this._notebook.activeCellChanged.connect(this._onActiveCell, this);
    this._session.statusChanged.connect(this._onKernelStatus, this);
    this._model.cells.changed.connect(this._onCells, this);
    this._model.readings.changed.connect(this._onReadings, this);
    this._model.predictions.changed.connect(this._onAnswer, this);
    this._model.predictions.cleared.connect(this._onCleared, this);
    this._settings.changed.connect(this._onSettings, this);
    this._onActiveCell(this._notebook, this._notebook.activeCell);
  }

  get isDisposed(): boolean {
    return this._poll.isDisposed;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    this._watched?.model.contentChanged.disconnect(this._onEdit, this);
    Signal.disconnectReceiver(this);
  }

  private get _enabled(): boolean {
    return this._settings.values.predictWhileEditing;
  }

  private get _delay(): number {
    return this._settings.values.predictDelay;
  }

  private _onActiveCell(_: Notebook, cell: Cell | null): void {
    this._watched?.model.contentChanged.disconnect(this._onEdit, this);
    this._watched = cell && cell.model.type === 'code' ? cell : null;
    this._watched?.model.contentChanged.connect(this._onEdit, this);
    this._lastSource = this._watched ? sourceOf(this._watched) : null;
    this._retries = 0;
    this._want();
  }

  private _onEdit(): void {
    const cell = this._watched;
    if (!cell) {
      return;
    }
    const source = sourceOf(cell);
    if (source === this._lastSource) {
      return; // metadata or outputs changed, not the text
    }
    this._lastSource = source;
    this._retries = 0;
    this._model.predictions.sourceChanged(cell.model.id, source);
    this._want();
  }

  private _onKernelStatus(_: unknown, status: string): void {
    if (status === 'idle' && this._poll.state.phase === 'standby') {
      this._want();
    }
  }

  private _onCells(_: unknown, change: CellsChange): void {
    if (change.kind === 'record') {
      // A cell finished: the namespace changed, so an answer for the same text may not
      // hold any more (a size defined, an import made).
      this._stale = true;
      this._retries = 0;
      this._want();
    }
  }

  private _onReadings(_: unknown, change: ReadingsChange): void {
    if (change === 'status' || change === 'hello') {
      this._want();
    }
  }

  /** An answer came: if it judged nothing about the text being edited, ask later. */
  private _onAnswer(_: unknown, cellId: string): void {
    const cell = this._watched;
    const unjudged = this._model.predictions.unjudged(cellId);
    if (
      !cell ||
      cell.model.id !== cellId ||
      !unjudged ||
      unjudged === this._handledNote ||
      unjudged.source !== sourceOf(cell)
    ) {
      return;
    }
    this._handledNote = unjudged;
    if (this._retries >= MAX_NOTE_RETRIES) {
      return; // asked enough: the next edit, finished cell or restart asks again
    }
    this._retries++;
    this._stale = true; // a judged answer kept for this text may not hold either
    this._want(this._delay * 2 ** this._retries);
  }

  /** Predictions were forgotten, requests still out with them: ask afresh. */
  private _onCleared(): void {
    this._retries = 0;
    this._handledNote = null;
    this._want();
  }

  private _onSettings(): void {
    if (this._enabled) {
      this._want();
    } else {
      void this._poll.stop();
    }
  }

  /** Ask about the active cell after `wait` ms of quiet (the settings' delay). */
  private _want(wait = this._delay): void {
    if (this.isDisposed || !this._enabled) {
      return;
    }
    void this._poll.schedule({ interval: wait, phase: 'asking' });
  }

  /** Whether a request would be answered now, not after a running cell. */
  private _canAsk(): boolean {
    const kernel = this._session.session?.kernel;
    return kernel?.status === 'idle' && this._model.readings.status.state === 'connected';
  }

  private _ask(): void {
    const cell = this._watched;
    if (this.isDisposed || !cell || !this._enabled) {
      return;
    }
    const cellId = cell.model.id;
    const source = sourceOf(cell);
    const predictions = this._model.predictions;
    if (source.trim() === '' || predictions.isPending(cellId, source)) {
      return;
    }
    if (predictions.get(cellId)?.source === source && !this._stale) {
      return; // answered, and nothing changed since
    }
    if (this._predict(source, cellId) !== null) {
      this._stale = false;
    }
  }

  private _notebook: Notebook;
  private _session: ISessionContext;
  private _model: MemoryModel;
  private _predict: (source: string, cellId: string) => number | null;
  private _settings: OomguardSettings;
  private _poll: Poll<void, unknown, 'asking'>;
  private _watched: Cell | null = null;
  private _lastSource: string | null = null;
  /** The namespace changed since the kept answer: ask even for the same text. */
  private _stale = false;
  /** Answers that judged nothing about the current text, in a row. */
  private _retries = 0;
  private _handledNote: object | null = null;
}

export function sourceOf(cell: Cell): string {
  return cell.model.sharedModel.getSource();
}
