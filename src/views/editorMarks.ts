import type { Cell } from '@jupyterlab/cells';
import type { CodeMirrorEditor } from '@jupyterlab/codemirror';
import type { Notebook, NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';
import { formatBytes } from '../format';
import { MemoryChange, MemoryModel } from '../model/memoryModel';
import { IFinding } from '../protocol';
import { INotebookMemory } from '../tokens';
import { element } from './dom';
import { IRiskyLine, riskyLinesExtension, showRiskyLines } from './riskyLines';

const HINT_CLASS = 'jp-oomguard-edit-hint';
/** Hint lines shown under an editor; the rest are summed up in one line. */
const MAX_HINT_LINES = 5;

/** The user's settings for predictions while editing (schema/plugin.json). */
export class EditPredictionSettings {
  /** Whether the cell being edited is sent for prediction at all. */
  enabled = true;
  /** Milliseconds of quiet after the last keystroke before the cell is sent. */
  delay = 600;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  update(enabled: boolean, delay: number): void {
    this.enabled = enabled;
    this.delay = Math.min(10000, Math.max(100, delay));
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
}

/**
 * Marks risky lines in a notebook's editors before the cell runs.
 *
 * The active code cell is sent to the kernel for prediction once the user pauses
 * typing, but only while the kernel is idle and the shim connected: a busy kernel
 * would answer only after its cell, so the request waits for the next idle. The lines
 * of risky findings get a line decoration with the finding as tooltip, and a text hint
 * under the editor says what they would need against what is free. An edit clears the
 * marks at once (they were for the old text); the new prediction brings them back.
 */
export class EditorMarks implements IDisposable {
  constructor(
    private _panel: NotebookPanel,
    private _memory: INotebookMemory,
    private _trans: TranslationBundle,
    private _settings: EditPredictionSettings
  ) {
    const notebook = _panel.content;
    notebook.activeCellChanged.connect(this._onActiveCell, this);
    _panel.sessionContext.statusChanged.connect(this._onKernelStatus, this);
    this._model.changed.connect(this._onModelChange, this);
    this._model.predictions.changed.connect(this._onPrediction, this);
    _settings.changed.connect(this._onSettings, this);
    this._onActiveCell(notebook, notebook.activeCell);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    window.clearTimeout(this._timer);
    this._watched?.model.contentChanged.disconnect(this._onEdit, this);
    this._panel.content.activeCellChanged.disconnect(this._onActiveCell, this);
    this._panel.sessionContext.statusChanged.disconnect(this._onKernelStatus, this);
    this._model.changed.disconnect(this._onModelChange, this);
    this._model.predictions.changed.disconnect(this._onPrediction, this);
    this._settings.changed.disconnect(this._onSettings, this);
  }

  private get _model(): MemoryModel {
    return this._memory.model;
  }

  // -- when to ask ------------------------------------------------------------------

  private _onActiveCell(_: Notebook, cell: Cell | null): void {
    this._watched?.model.contentChanged.disconnect(this._onEdit, this);
    this._watched = cell && cell.model.type === 'code' ? cell : null;
    this._watched?.model.contentChanged.connect(this._onEdit, this);
    this._lastSource = this._watched ? sourceOf(this._watched) : null;
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
    this._model.predictions.sourceChanged(cell.model.id, source);
    this._want();
  }

  private _onKernelStatus(_: unknown, status: Kernel.Status): void {
    if (status === 'idle' && this._wanted) {
      this._want();
    }
  }

  private _onModelChange(model: MemoryModel, change: MemoryChange): void {
    if (change === 'cell' && model.runningCell === null) {
      // A cell finished: the namespace changed, so an answer for the same text may not
      // hold any more (a size defined, an import made).
      this._stale = true;
      this._want();
    } else if (change === 'status' || change === 'hello') {
      this._want();
    }
  }

  private _onSettings(): void {
    if (this._settings.enabled) {
      this._want();
    } else {
      window.clearTimeout(this._timer);
      this._wanted = false;
      this._panel.content.widgets.forEach(cell => this._render(cell));
    }
  }

  /** Ask about the active cell once the user has paused. */
  private _want(): void {
    if (this._isDisposed || !this._settings.enabled) {
      return;
    }
    this._wanted = true;
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => this._ask(), this._settings.delay);
  }

  private _ask(): void {
    const cell = this._watched;
    if (this._isDisposed || !cell || !this._settings.enabled) {
      this._wanted = false;
      return;
    }
    const cellId = cell.model.id;
    const source = sourceOf(cell);
    const predictions = this._model.predictions;
    const answered =
      predictions.get(cellId)?.source === source || predictions.isPending(cellId, source);
    if (source.trim() === '' || (answered && !this._stale)) {
      this._wanted = false;
      return;
    }
    const kernel = this._panel.sessionContext.session?.kernel;
    if (kernel?.status !== 'idle' || this._model.status.state !== 'connected') {
      return; // still wanted: asked again at the next idle or connection
    }
    if (this._memory.connection.predict(source, cellId) !== null) {
      this._wanted = false;
      this._stale = false;
    }
  }

  // -- what to show -----------------------------------------------------------------

  private _onPrediction(_: unknown, cellId: string): void {
    const cell = this._panel.content.widgets.find(c => c.model.id === cellId);
    if (cell) {
      this._render(cell);
    }
  }

  private _render(cell: Cell): void {
    const prediction = this._model.predictions.get(cell.model.id);
    const risky =
      this._settings.enabled && prediction && prediction.source === sourceOf(cell)
        ? prediction.message.findings.filter(finding => finding.risky)
        : [];
    const free = prediction?.message.free ?? {};
    // Whether the text as it stands was judged, and how: for tests and styling.
    if (prediction && prediction.source === sourceOf(cell) && this._settings.enabled) {
      cell.node.dataset.oomguardPrediction = risky.length ? 'risky' : 'clear';
    } else {
      delete cell.node.dataset.oomguardPrediction;
    }
    this._mark(cell, risky);
    cell.node.querySelector(`:scope > .${HINT_CLASS}`)?.remove();
    if (risky.length) {
      this._addHint(cell, risky, free);
    }
  }

  private _mark(cell: Cell, risky: IFinding[]): void {
    const editor = cell.editor as CodeMirrorEditor | null;
    if (!editor || typeof editor.injectExtension !== 'function') {
      return; // not rendered (windowed out) or not CodeMirror: the hint still says it
    }
    if (!this._injected.has(editor)) {
      if (!risky.length) {
        return;
      }
      editor.injectExtension(riskyLinesExtension);
      this._injected.add(editor);
    }
    showRiskyLines(editor.editor, linesOf(risky));
  }

  private _addHint(
    cell: Cell,
    risky: IFinding[],
    free: Record<string, number | null>
  ): void {
    const trans = this._trans;
    const hint = element('div', HINT_CLASS);
    hint.appendChild(
      element('div', 'jp-oomguard-edit-hint-title', trans.__('oomguard, before running:'))
    );
    for (const finding of risky.slice(0, MAX_HINT_LINES)) {
      hint.appendChild(
        element(
          'div',
          'jp-oomguard-edit-hint-line',
          trans.__(
            'line %1: would need %2 of %3 free on %4',
            finding.line,
            formatBytes(finding.peak_bytes),
            formatBytes(free[finding.device] ?? null),
            finding.device
          )
        )
      );
    }
    if (risky.length > MAX_HINT_LINES) {
      hint.appendChild(
        element(
          'div',
          'jp-oomguard-edit-hint-line',
          trans.__('and %1 more', risky.length - MAX_HINT_LINES)
        )
      );
    }
    const input = cell.node.querySelector(':scope > .jp-Cell-inputWrapper');
    if (input) {
      input.insertAdjacentElement('afterend', hint);
    } else {
      cell.node.appendChild(hint);
    }
  }

  private _watched: Cell | null = null;
  private _lastSource: string | null = null;
  private _wanted = false;
  private _stale = false;
  private _timer = 0;
  private _injected = new WeakSet<object>();
  private _isDisposed = false;
}

function sourceOf(cell: Cell): string {
  return cell.model.sharedModel.getSource();
}

/** One mark per line; several findings on a line share its tooltip. */
function linesOf(findings: IFinding[]): IRiskyLine[] {
  const byLine = new Map<number, string[]>();
  for (const finding of findings) {
    const text = [finding.message, finding.suggestion].filter(Boolean).join('\n');
    byLine.set(finding.line, [...(byLine.get(finding.line) ?? []), text]);
  }
  return [...byLine].map(([line, texts]) => ({ line, title: texts.join('\n\n') }));
}
