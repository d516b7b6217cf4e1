import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';
import { ShimConnection } from '../kernel/shimConnection';
import { IOomguardSettings, OomguardSettings } from '../settings';
import { IMemoryTracker, INotebookMemory } from '../tokens';
import { cellName } from '../views/findCell';
import { MemoryModel } from './memoryModel';

/**
 * One memory model and kernel link per open notebook, made when the notebook opens
 * and disposed when it closes; follows the active notebook and applies the settings
 * (sample interval, thresholds, auto-attach) to every notebook.
 */
export class MemoryTracker implements IMemoryTracker {
  constructor(
    notebooks: INotebookTracker,
    options: { trans: TranslationBundle; settings?: OomguardSettings }
  ) {
    this._notebooks = notebooks;
    this.settings = options.settings ?? new OomguardSettings();
    this._trans = options.trans;
    this.settings.changed.connect(this._applySettings, this);
    notebooks.widgetAdded.connect((_, panel) => this._track(panel));
    notebooks.forEach(panel => this._track(panel));
    notebooks.currentChanged.connect(() => this._currentChanged.emit(this.current));
  }

  readonly settings: OomguardSettings;

  get currentChanged(): ISignal<IMemoryTracker, INotebookMemory | null> {
    return this._currentChanged;
  }

  get current(): INotebookMemory | null {
    const panel = this._notebooks.currentWidget;
    return (panel && this._memories.get(panel)) ?? null;
  }

  get(panel: NotebookPanel): INotebookMemory | undefined {
    return this._memories.get(panel);
  }

  private _applySettings(_: OomguardSettings, values: IOomguardSettings): void {
    this._memories.forEach(memory => {
      if (memory.connection.interval !== values.sampleInterval) {
        memory.connection.interval = values.sampleInterval;
      }
      memory.connection.autoAttach = values.autoAttach;
      memory.model.readings.thresholds = values.thresholds;
    });
  }

  private _track(panel: NotebookPanel): void {
    if (this._memories.has(panel)) {
      return;
    }
    const values = this.settings.values;
    const model = new MemoryModel();
    model.readings.thresholds = values.thresholds;
    const connection = new ShimConnection({
      sessionContext: panel.sessionContext,
      model,
      interval: values.sampleInterval,
      autoAttach: values.autoAttach,
      settingsLoaded: this.settings.loaded,
      trans: this._trans,
      nameCell: cell => cellName(panel.content, cell, this._trans)
    });
    this._memories.set(panel, { panel, model, connection });
    panel.disposed.connect(() => {
      this._memories.delete(panel);
      connection.dispose();
      model.dispose();
    });
    if (panel === this._notebooks.currentWidget) {
      this._currentChanged.emit(this.current);
    }
  }

  private _notebooks: INotebookTracker;
  private _trans: TranslationBundle;
  private _memories = new Map<NotebookPanel, INotebookMemory>();
  private _currentChanged = new Signal<IMemoryTracker, INotebookMemory | null>(
    this
  );
}
