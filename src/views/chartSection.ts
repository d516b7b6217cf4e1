import { TranslationBundle } from '@jupyterlab/translation';
import { MemoryModel } from '../model/memoryModel';
import { spanFromRunning } from '../model/timelineSeries';
import { Section } from './section';
import { SpanHandler, TimelineChart } from './timelineChart';

/** The session's RAM and VRAM over time, with the cells that ran marked on it. */
export class ChartSection extends Section {
  constructor(trans: TranslationBundle, onSpan: SpanHandler) {
    super(trans, 'jp-oomguard-timeline', trans.__('Timeline'));
    this.node.appendChild(this._chart.node);
    this._onSpan = onSpan;
  }

  render(model: MemoryModel | null): void {
    this.node.hidden = model === null;
    const running = model?.runningCell ? spanFromRunning(model.runningCell) : null;
    this._chart.update(model?.timeline ?? null, running);
  }

  /** The chart's plot listens on window and observes the DOM: let it go. */
  dispose(): void {
    this._chart.dispose();
  }

  private _onSpan: SpanHandler;
  private _chart = new TimelineChart(this.trans, span => this._onSpan(span));
}
