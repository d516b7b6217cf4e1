import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';
import { ShimConnection } from '../kernel/shimConnection';
import { IMemoryTracker, INotebookMemory } from '../tokens';
import { DEFAULT_THRESHOLDS, IThresholds, MemoryModel } from './memoryModel';

/**
 * One memory model and kernel link per open notebook, made when the notebook opens
 * and disposed when it closes; follows the active notebook.
 */
export class MemoryTracker implements IMemoryTracker {
  constructor(notebooks: INotebookTracker, options: { interval: number }) {
    this._notebooks = notebooks;
    this._interval = options.interval;
    notebooks.widgetAdded.connect((_, panel) => this._track(panel));
    notebooks.forEach(panel => this._track(panel));
    notebooks.currentChanged.connect(() => this._currentChanged.emit(this.current));
  }

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

  /** Apply a new sample interval (seconds) to every notebook's kernel. */
  set interval(seconds: number) {
    this._interval = seconds;
    this._memories.forEach(memory => (memory.connection.interval = seconds));
  }

  /** Apply new severity thresholds to every notebook's model. */
  set thresholds(thresholds: IThresholds) {
    this._thresholds = thresholds;
    this._memories.forEach(memory => (memory.model.thresholds = thresholds));
  }

  private _track(panel: NotebookPanel): void {
    if (this._memories.has(panel)) {
      return;
    }
    const model = new MemoryModel();
    model.thresholds = this._thresholds;
    const connection = new ShimConnection({
      sessionContext: panel.sessionContext,
      model,
      interval: this._interval
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
  private _interval: number;
  private _thresholds: IThresholds = DEFAULT_THRESHOLDS;
  private _memories = new Map<NotebookPanel, INotebookMemory>();
  private _currentChanged = new Signal<IMemoryTracker, INotebookMemory | null>(
    this
  );
}
