import { NotebookPanel } from '@jupyterlab/notebook';
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';
import { ShimConnection } from './kernel/shimConnection';
import { MemoryModel } from './model/memoryModel';
import type { OomguardSettings } from './settings';

/** Memory state and kernel link of one notebook. */
export interface INotebookMemory {
  readonly panel: NotebookPanel;
  readonly model: MemoryModel;
  readonly connection: ShimConnection;
}

/**
 * Gives every notebook its memory model; other plugins (cell badges, status bar)
 * take it from here rather than opening comms of their own.
 */
export interface IMemoryTracker {
  /** The memory of a notebook panel, if it is tracked. */
  get(panel: NotebookPanel): INotebookMemory | undefined;
  /** The memory of the active notebook. */
  readonly current: INotebookMemory | null;
  readonly currentChanged: ISignal<IMemoryTracker, INotebookMemory | null>;
  /** The user's oomguard settings, current. */
  readonly settings: OomguardSettings;
}

export const IMemoryTracker = new Token<IMemoryTracker>(
  'jupyterlab-oomguard:IMemoryTracker',
  'Per-notebook kernel memory models, fed by the oomguard kernel shim.'
);

export namespace CommandIDs {
  export const openPanel = 'oomguard:open-panel';
  export const reconnect = 'oomguard:reconnect';
  export const exportTimeline = 'oomguard:export';
}
