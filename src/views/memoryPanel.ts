import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import {
  formatAge,
  formatBytes,
  formatPercent,
  percentOf,
  severityOf
} from '../format';
import { MemoryChange } from '../model/memoryModel';
import { INotebookMemory } from '../tokens';
import { element, setText } from './dom';
import { Sparkline } from './sparkline';

/**
 * The "Memory" sidebar: the active notebook's kernel RAM against the session limit,
 * live. It renders the model and nothing else; the tracker tells it which notebook.
 */
export class MemoryPanel extends Widget {
  constructor(trans: TranslationBundle) {
    super();
    this._trans = trans;
    this.addClass('jp-oomguard-panel');
    this.id = 'jp-oomguard-panel';
    this.title.caption = trans.__('Memory');
    this._build();
    this._render();
  }

  /** The notebook whose memory is shown, or null when no notebook is active. */
  get memory(): INotebookMemory | null {
    return this._memory;
  }

  set memory(memory: INotebookMemory | null) {
    if (memory === this._memory) {
      return;
    }
    this._memory?.model.changed.disconnect(this._onModelChanged, this);
    this._memory = memory;
    memory?.model.changed.connect(this._onModelChanged, this);
    this._render();
  }

  protected onAfterShow(): void {
    this._render();
    // "updated N s ago" must age even when no sample arrives.
    this._ageTimer = window.setInterval(() => this._renderFooter(), 1000);
  }

  protected onAfterHide(): void {
    window.clearInterval(this._ageTimer);
  }

  dispose(): void {
    window.clearInterval(this._ageTimer);
    this.memory = null;
    super.dispose();
  }

  private _onModelChanged(_: unknown, change: MemoryChange): void {
    if (change === 'sample' && !this.isVisible) {
      return;
    }
    this._render();
  }

  private _build(): void {
    const trans = this._trans;
    const header = element('div', 'jp-oomguard-header');
    header.append(
      element('h2', 'jp-oomguard-title', trans.__('Memory')),
      this._notebookName
    );
    const ram = element('section', 'jp-oomguard-ram');
    const bar = element('div', 'jp-oomguard-bar');
    bar.appendChild(this._barFill);
    ram.append(
      element('div', 'jp-oomguard-label', trans.__('Kernel RAM')),
      this._rssValue,
      bar,
      this._limitLine,
      this._details,
      this._sparkline.node
    );
    this._reconnect.type = 'button';
    this._reconnect.addEventListener('click', () => {
      void this._memory?.connection.attach();
    });
    const footer = element('div', 'jp-oomguard-footer');
    footer.append(this._footerText, this._reconnect);
    this.node.append(header, this._status, ram, this._notes, footer);
  }

  private _render(): void {
    const memory = this._memory;
    this.node.dataset.oomguardState = memory?.model.status.state ?? 'no-notebook';
    setText(
      this._notebookName,
      memory ? memory.panel.title.label : this._trans.__('No notebook is active.')
    );
    this._renderStatus();
    this._renderReading();
    this._renderFooter();
  }

  private _renderStatus(): void {
    const status = this._memory?.model.status;
    const shimError = this._memory?.model.shimError;
    const message = [status?.message, shimError].filter(Boolean).join(' ');
    setText(this._status, message);
    this._status.dataset.state = status?.state ?? 'no-notebook';
    this._status.hidden = message === '';
    const reconnectable = ['disconnected', 'error', 'waiting', 'missing'];
    this._reconnect.hidden = !status || !reconnectable.includes(status.state);
  }

  private _renderReading(): void {
    const trans = this._trans;
    const model = this._memory?.model;
    const sample = model?.latest ?? null;
    const rss = sample?.rss ?? null;
    setText(this._rssValue, formatBytes(rss));
    this._rssValue.dataset.oomguardRss = rss === null ? '' : String(rss);
    this._rssValue.dataset.oomguardTime = sample ? String(sample.t) : '';

    const percent = percentOf(rss, sample?.limit);
    this._barFill.style.width = `${Math.min(100, percent ?? 0)}%`;
    this._barFill.dataset.severity = severityOf(percent);
    setText(
      this._limitLine,
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
      ...this._detailRows([
        [trans.__('Free in session'), formatBytes(sample?.free)],
        [
          trans.__('Session in use'),
          sample?.used === null || sample?.used === undefined
            ? '—'
            : formatBytes(sample.used)
        ],
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
      ...(sample?.notes ?? []).map(note =>
        element('li', 'jp-oomguard-note', note)
      )
    );
    this._sparkline.update(model?.samples ?? []);
  }

  private _detailRows(rows: [string, string][]): HTMLElement[] {
    return rows.map(([label, value]) => {
      const row = element('div', 'jp-oomguard-detail');
      row.append(
        element('span', 'jp-oomguard-detail-label', label),
        element('span', 'jp-oomguard-detail-value', value)
      );
      return row;
    });
  }

  private _renderFooter(): void {
    const trans = this._trans;
    const model = this._memory?.model;
    const hello = model?.hello;
    const parts: string[] = [];
    if (hello) {
      this.node.dataset.oomguardPid = String(hello.pid);
      parts.push(
        trans.__('kernel pid %1', hello.pid),
        trans.__('every %1 s', hello.interval)
      );
    } else {
      delete this.node.dataset.oomguardPid;
    }
    const received = model?.lastReceivedAt;
    if (received) {
      parts.push(
        trans.__('updated %1', formatAge((Date.now() - received) / 1000))
      );
    }
    setText(this._footerText, parts.join(' · '));
  }

  private _trans: TranslationBundle;
  private _memory: INotebookMemory | null = null;
  private _ageTimer = 0;
  private _notebookName = element('div', 'jp-oomguard-notebook');
  private _status = element('div', 'jp-oomguard-status');
  private _rssValue = element('div', 'jp-oomguard-value jp-oomguard-rss');
  private _barFill = element('div', 'jp-oomguard-bar-fill');
  private _limitLine = element('div', 'jp-oomguard-limit');
  private _details = element('div', 'jp-oomguard-details');
  private _notes = element('ul', 'jp-oomguard-notes');
  private _sparkline = new Sparkline();
  private _footerText = element('span', 'jp-oomguard-footer-text');
  private _reconnect = element(
    'button',
    'jp-oomguard-reconnect jp-mod-styled',
    'Reconnect'
  );
}
