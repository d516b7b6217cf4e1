import { TranslationBundle } from '@jupyterlab/translation';
import { MemoryModel } from '../model/memoryModel';
import { element } from './dom';

/** One part of the Memory panel: it owns its DOM and re-renders from the model. */
export abstract class Section {
  readonly node: HTMLElement;

  constructor(
    protected trans: TranslationBundle,
    className: string,
    title: string
  ) {
    this.node = element('section', `jp-oomguard-section ${className}`);
    this.node.appendChild(element('div', 'jp-oomguard-label', title));
  }

  abstract render(model: MemoryModel | null): void;

  /** Release what outlives the DOM (observers, timers, listeners on window). */
  dispose(): void {
    // Most sections hold nothing but their nodes.
  }
}

/** Label/value rows, rebuilt on each render (a handful of rows: cheap). */
export function detailRows(rows: [string, string][]): HTMLElement[] {
  return rows.map(([label, value]) => {
    const row = element('div', 'jp-oomguard-detail');
    row.append(
      element('span', 'jp-oomguard-detail-label', label),
      element('span', 'jp-oomguard-detail-value', value)
    );
    return row;
  });
}

/** A horizontal gauge whose fill is a share of 100%. */
export function gauge(percent: number | null, severity: string): HTMLElement {
  const bar = element('div', 'jp-oomguard-bar');
  const fill = element('div', 'jp-oomguard-bar-fill');
  fill.style.width = `${Math.min(100, percent ?? 0)}%`;
  fill.dataset.severity = severity;
  bar.appendChild(fill);
  return bar;
}
