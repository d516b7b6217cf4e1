import { TranslationBundle } from '@jupyterlab/translation';
import { formatBytes, formatPercent, percentOf } from '../format';
import { ReadingsChange } from '../model/readingsModel';
import { INotebookMemory } from '../tokens';
import { element, setText } from './dom';
import { GaugeSlot, Section } from './section';

/**
 * The memory of the cluster the kernel drives (a Dask cluster whose Client is in the
 * namespace), from the newest sample: the workers' memory together against their
 * limits together, and how many workers there are. Shown only while samples carry a
 * cluster; the figures are the scheduler's, a heartbeat old (docs/measurements.md).
 */
export class ClusterSection extends Section {
  constructor(trans: TranslationBundle) {
    super(trans, 'jp-oomguard-cluster', trans.__('Cluster memory'));
    this.node.append(this._summary, this._value, this._gauge.node, this._limit);
  }

  protected listen(memory: INotebookMemory): void {
    this.watch(memory.model.readings.changed, (_, change: ReadingsChange) => {
      if (change === 'sample' || change === 'thresholds') {
        this.update();
      }
    });
  }

  render(): void {
    const trans = this.trans;
    const readings = this.memory?.model.readings ?? null;
    const cluster = readings?.latest?.cluster ?? null;
    this.node.hidden = cluster === null;
    if (cluster === null) {
      return;
    }
    setText(
      this._summary,
      cluster.workers === null
        ? trans.__('%1 cluster', cluster.engine)
        : trans._n(
            '%2 cluster · %1 worker',
            '%2 cluster · %1 workers',
            cluster.workers,
            cluster.engine
          )
    );
    setText(this._value, formatBytes(cluster.memory));
    this._value.dataset.oomguardClusterMemory =
      cluster.memory === null ? '' : String(cluster.memory);
    const percent = percentOf(cluster.memory, cluster.limit);
    this._gauge.show(
      percent,
      readings ? readings.severity(percent) : 'unknown',
      trans.__("Cluster memory, share of the workers' limits")
    );
    setText(
      this._limit,
      cluster.memory === null
        ? trans.__('Not measured: the cluster does not answer.')
        : cluster.limit !== null
          ? trans.__(
              "%1 of the workers' %2 limit",
              formatPercent(percent),
              formatBytes(cluster.limit)
            )
          : trans.__("The workers' limits are not known.")
    );
  }

  private _summary = element('div', 'jp-oomguard-cluster-summary');
  private _value = element('div', 'jp-oomguard-value jp-oomguard-cluster-memory');
  private _gauge = new GaugeSlot();
  private _limit = element('div', 'jp-oomguard-limit');
}
