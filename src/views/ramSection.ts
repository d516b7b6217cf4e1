import { TranslationBundle } from '@jupyterlab/translation';
import {
  formatBytes,
  formatPercent,
  percentOf
} from '../format';
import { ReadingsChange } from '../model/readingsModel';
import { INotebookMemory } from '../tokens';
import { IHelloMessage } from '../protocol';
import { element, setText } from './dom';
import { detailRows, GaugeSlot, Section } from './section';

/** Kernel RSS against the session limit, with the figures behind it. */
export class RamSection extends Section {
  constructor(trans: TranslationBundle) {
    super(trans, 'jp-oomguard-ram', trans.__('Kernel RAM'));
    this._notes.setAttribute('aria-label', trans.__('Measurement notes'));
    this._oomGroup.setAttribute('role', 'note');
    this._oomGroup.setAttribute('aria-label', trans.__('One OOM kill ends the container'));
    this.node.append(
      this._oomGroup,
      this._value,
      this._gauge.node,
      this._limit,
      this._details,
      this._notes
    );
  }

  protected listen(memory: INotebookMemory): void {
    this.watch(memory.model.readings.changed, (_, change: ReadingsChange) => {
      if (change === 'sample' || change === 'hello' || change === 'thresholds') {
        this.update();
      }
    });
  }

  render(): void {
    const trans = this.trans;
    const readings = this.memory?.model.readings ?? null;
    this._renderOomGroup(readings?.hello ?? null);
    const sample = readings?.latest ?? null;
    const rss = sample?.rss ?? null;
    setText(this._value, formatBytes(rss));
    this._value.dataset.oomguardRss = rss === null ? '' : String(rss);
    this._value.dataset.oomguardTime = sample ? String(sample.t) : '';

    const percent = percentOf(rss, sample?.limit);
    this._gauge.show(
      percent,
      readings ? readings.severity(percent) : 'unknown',
      trans.__('Kernel RAM, share of the session limit')
    );
    setText(
      this._limit,
      sample?.limit
        ? trans.__(
            '%1 of the %2 session limit (%3)',
            formatPercent(percent),
            formatBytes(sample.limit),
            sample.limit_source
          )
        : trans.__('Session limit not measured')
    );
    this._details.replaceChildren(
      ...detailRows([
        [trans.__('Free in session'), formatBytes(sample?.free)],
        [trans.__('Session in use'), formatBytes(sample?.used)],
        [trans.__('Child processes'), formatBytes(sample?.children_rss)],
        [
          trans.__('Host available'),
          sample?.host_total
            ? trans.__(
                '%1 of %2',
                formatBytes(sample.host_available),
                formatBytes(sample.host_total)
              )
            : '—'
        ]
      ])
    );
    this._notes.replaceChildren(
      ...(sample?.notes ?? []).map(note => element('li', 'jp-oomguard-note', note))
    );
  }

  /**
   * Where one OOM kill ends the whole container (Kubernetes 1.28+ on cgroup v2), a
   * kernel that runs out of memory takes every session with it: say so first.
   */
  private _renderOomGroup(hello: IHelloMessage | null): void {
    const grouped = hello?.oom_group === true;
    this._oomGroup.hidden = !grouped;
    this._oomGroup.title = grouped ? (hello?.oom_group_file ?? '') : '';
    setText(
      this._oomGroup,
      grouped
        ? this.trans.__(
            "One OOM kill ends this whole container (memory.oom.group = 1, as Kubernetes 1.28+ sets it): a kernel that runs it out of memory takes every other kernel and the Jupyter server with it. oomguard's watchdog is then all that stands between you and losing every session: keep it on, and keep the spool on persistent storage (OOMGUARD_SPOOL_DIR)."
          )
        : ''
    );
  }

  private _oomGroup = element('div', 'jp-oomguard-oom-group');
  private _value = element('div', 'jp-oomguard-value jp-oomguard-rss');
  private _gauge = new GaugeSlot();
  private _limit = element('div', 'jp-oomguard-limit');
  private _details = element('div', 'jp-oomguard-details');
  private _notes = element('ul', 'jp-oomguard-notes');
}
