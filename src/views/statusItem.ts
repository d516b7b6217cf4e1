import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { formatBytes, percentOf } from '../format';
import { ReadingsChange, ReadingsModel } from '../model/readingsModel';
import { IMemoryTracker, INotebookMemory } from '../tokens';
import { setText } from './dom';

/**
 * "RAM 1.2 / 12.7 GiB · GPU 3.0 / 15.0 GiB" in the status bar, for the active notebook;
 * a click opens the Memory panel.
 */
export class MemoryStatusItem extends Widget {
  constructor(
    tracker: IMemoryTracker,
    trans: TranslationBundle,
    onClick: () => void
  ) {
    super();
    this._trans = trans;
    this.addClass('jp-oomguard-status-item');
    this.node.title = trans.__('Kernel memory (oomguard): click for details');
    // A button for the keyboard and screen readers too: Enter or Space opens the panel.
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this.node.addEventListener('click', onClick);
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        onClick();
      }
    });
    tracker.currentChanged.connect((_, memory) => this._follow(memory));
    this._follow(tracker.current);
  }

  private _follow(memory: INotebookMemory | null): void {
    this._memory?.model.readings.changed.disconnect(this._onChange, this);
    this._memory = memory;
    memory?.model.readings.changed.connect(this._onChange, this);
    this._render();
  }

  private _onChange(_: ReadingsModel, change: ReadingsChange): void {
    if (change === 'sample' || change === 'thresholds') {
      this._render();
    }
  }

  private _render(): void {
    const trans = this._trans;
    const readings = this._memory?.model.readings;
    const sample = readings?.latest ?? null;
    const parts: string[] = [];
    if (sample) {
      parts.push(
        sample.limit
          ? trans.__('RAM %1 / %2', formatBytes(sample.rss), formatBytes(sample.limit))
          : trans.__('RAM %1', formatBytes(sample.rss))
      );
      for (const gpu of sample.gpus ?? []) {
        parts.push(
          trans.__('GPU%1 %2 / %3', gpu.index, formatBytes(gpu.used), formatBytes(gpu.total))
        );
      }
    }
    setText(this.node, parts.join(' · '));
    this.node.setAttribute(
      'aria-label',
      trans.__('Kernel memory (oomguard): %1. Open the Memory panel', parts.join(', '))
    );
    // The worst of RAM and every GPU: any of them can end the session.
    const shares = [
      percentOf(sample?.rss, sample?.limit),
      ...(sample?.gpus ?? []).map(gpu => percentOf(gpu.used, gpu.total))
    ].filter((share): share is number => share !== null);
    this.node.dataset.severity =
      readings && shares.length ? readings.severity(Math.max(...shares)) : 'unknown';
    this.setHidden(parts.length === 0);
  }

  private _trans: TranslationBundle;
  private _memory: INotebookMemory | null = null;
}
