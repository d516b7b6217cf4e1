import type { NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { CellsChange, CellsModel } from '../model/cellsModel';
import { ICellRecord } from '../protocol';
import { cellById } from '../views/findCell';

/** The cell metadata key the records go under. */
export const METADATA_KEY = 'oomguard';

/**
 * What is kept in a cell's metadata: the figures of its last run, nothing else (no
 * notes or findings text), with `start` as ISO 8601 UTC rather than epoch seconds.
 */
export type ICellMetadataRecord = Pick<
  ICellRecord,
  | 'execution_count'
  | 'duration'
  | 'ram_before'
  | 'ram_after'
  | 'ram_peak'
  | 'ram_delta'
  | 'ram_peak_delta'
  | 'peak_method'
  | 'gpu'
  | 'status'
> & { start: string };

export function metadataRecord(record: ICellRecord): ICellMetadataRecord {
  return {
    execution_count: record.execution_count,
    start: new Date(record.start * 1000).toISOString(),
    duration: Math.round(record.duration * 1000) / 1000,
    ram_before: record.ram_before,
    ram_after: record.ram_after,
    ram_peak: record.ram_peak,
    ram_delta: record.ram_delta,
    ram_peak_delta: record.ram_peak_delta,
    peak_method: record.peak_method,
    gpu: record.gpu.map(entry => ({ ...entry })),
    status: record.status
  };
}

/**
 * Stores each cell's last memory record in the cell's metadata (`oomguard`), so the
 * figures travel with the notebook. Off unless the user turns it on: every run then
 * changes the file, which shows in git diffs (the lesson of jupyterlab-execute-time).
 */
export class CellMetadataWriter implements IDisposable {
  constructor(
    private _panel: NotebookPanel,
    private _cells: CellsModel,
    private _enabled: () => boolean
  ) {
    _cells.changed.connect(this._onChange, this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._cells.changed.disconnect(this._onChange, this);
  }

  private _onChange(_: CellsModel, change: CellsChange): void {
    if (change.kind !== 'record' || !this._enabled()) {
      return;
    }
    const record = change.record;
    if (!record.cell_id) {
      return;
    }
    const cell = cellById(this._panel.content, record.cell_id);
    cell?.model.setMetadata(METADATA_KEY, metadataRecord(record) as any);
  }

  private _isDisposed = false;
}
