import { TranslationBundle } from '@jupyterlab/translation';
import { CellsChange } from '../model/cellsModel';
import { ReadingsChange } from '../model/readingsModel';
import { spanFromRunning } from '../model/timelineSeries';
import { INotebookMemory } from '../tokens';
import { Section } from './section';
import { SpanHandler, TimelineChart } from './timelineChart';

/**
 * The session's RAM and VRAM (and a cluster's memory) over time, with the cells that ran
 * marked on it.
 */
export class ChartSection extends Section {
  constructor(trans: TranslationBundle, onSpan: SpanHandler) {
    super(trans, 'jp-oomguard-timeline', trans.__('Timeline'));
    this.node.appendChild(this._chart.node);
    this._onSpan = onSpan;
  }

  protected listen(memory: INotebookMemory): void {
    this.watch(memory.model.readings.changed, (_, change: ReadingsChange) => {
      if (change === 'sample' || change === 'spans') {
        this.update();
      }
    });
    // The live span of the running cell starts with it; it ends with the record, whose
    // span comes as `spans` (the records themselves are not drawn here).
    this.watch(memory.model.cells.changed, (_, change: CellsChange) => {
      if (change.kind === 'running') {
        this.update();
      }
    });
  }

  render(): void {
    const model = this.memory?.model ?? null;
    this.node.hidden = model === null;
    const running = model?.cells.running ? spanFromRunning(model.cells.running) : null;
    this._chart.update(model?.readings.timeline ?? null, running);
  }

  /** The chart's plot listens on window and observes the DOM: let it go. */
  dispose(): void {
    super.dispose();
    this._chart.dispose();
  }

  private _onSpan: SpanHandler;
  private _chart = new TimelineChart(this.trans, span => this._onSpan(span));
}
