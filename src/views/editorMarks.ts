import type { Cell } from '@jupyterlab/cells';
import type { CodeMirrorEditor } from '@jupyterlab/codemirror';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { formatBytes } from '../format';
import { MemoryModel } from '../model/memoryModel';
import { IFinding } from '../protocol';
import { INotebookMemory } from '../tokens';
import { element } from './dom';
import { cellById } from './findCell';
import { OomguardSettings } from '../settings';
import { PredictionScheduler, sourceOf } from './predictionScheduler';
import { IRiskyLine, riskyLinesExtension, showRiskyLines } from './riskyLines';

const HINT_CLASS = 'jp-oomguard-edit-hint';
/** Hint lines shown under an editor; the rest are summed up in one line. */
const MAX_HINT_LINES = 5;

/**
 * Marks risky lines in a notebook's editors before the cell runs.
 *
 * When the active cell is sent for prediction is the PredictionScheduler's business;
 * this shows the answers. The lines of risky findings get a line decoration with the
 * finding as tooltip, and a text hint under the editor says what they would need
 * against what is free. An edit clears the marks at once (they were for the old text);
 * the new prediction brings them back. An answer that judged nothing (a note) shows
 * nothing: the cell is neither marked nor said to be clear.
 */
export class EditorMarks implements IDisposable {
  constructor(
    private _panel: NotebookPanel,
    private _memory: INotebookMemory,
    private _trans: TranslationBundle,
    private _settings: OomguardSettings
  ) {
    this._scheduler = new PredictionScheduler({
      notebook: _panel.content,
      sessionContext: _panel.sessionContext,
      model: _memory.model,
      predict: (source, cellId) => _memory.connection.predict(source, cellId),
      settings: _settings
    });
    this._model.predictions.changed.connect(this._onPrediction, this);
    _settings.changed.connect(this._renderAll, this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._scheduler.dispose();
    this._model.predictions.changed.disconnect(this._onPrediction, this);
    this._settings.changed.disconnect(this._renderAll, this);
  }

  private get _model(): MemoryModel {
    return this._memory.model;
  }

  private _onPrediction(_: unknown, cellId: string): void {
    const cell = cellById(this._panel.content, cellId);
    if (cell) {
      this._render(cell);
    }
  }

  /** Settings changed: marks go when turned off, and come back when turned on. */
  private _renderAll(): void {
    this._panel.content.widgets.forEach(cell => this._render(cell));
  }

  private _render(cell: Cell): void {
    const prediction = this._model.predictions.get(cell.model.id);
    const enabled = this._settings.values.predictWhileEditing;
    const risky =
      enabled && prediction && prediction.source === sourceOf(cell)
        ? prediction.message.findings.filter(finding => finding.risky)
        : [];
    const free = prediction?.message.free ?? {};
    // Whether the text as it stands was judged, and how: for tests and styling.
    if (prediction && prediction.source === sourceOf(cell) && enabled) {
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
    hint.setAttribute('role', 'note');
    hint.setAttribute('aria-label', trans.__('Memory prediction (oomguard)'));
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

  private _scheduler: PredictionScheduler;
  private _injected = new WeakSet<object>();
  private _isDisposed = false;
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
