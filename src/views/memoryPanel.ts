import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { ExportFormat } from '../export/timeline';
import { formatAge } from '../format';
import { MemoryChange } from '../model/memoryModel';
import { INotebookMemory } from '../tokens';
import { CellSection } from './cellSection';
import { ChartSection } from './chartSection';
import { element, setText } from './dom';
import { GpuSection } from './gpuSection';
import { RamSection } from './ramSection';
import { scrollToCell } from './scrollToCell';
import { Section } from './section';
import { VariablesSection } from './variablesSection';
import { WarningsSection } from './warningsSection';

/** Connection states in which the user can usefully ask to attach again. */
const RECONNECTABLE = ['disconnected', 'error', 'waiting', 'missing', 'detached'];

/**
 * The "Memory" sidebar: the active notebook's kernel RAM against the session limit,
 * VRAM, the cells' costs and the largest variables, live. It renders the model and
 * nothing else; the tracker tells it which notebook.
 */
export class MemoryPanel extends Widget {
  constructor(trans: TranslationBundle, onExport: (format: ExportFormat) => void) {
    super();
    this._onExport = onExport;
    this._trans = trans;
    this.addClass('jp-oomguard-panel');
    this.id = 'jp-oomguard-panel';
    this.title.caption = trans.__('Memory');
    this._sections = [
      new RamSection(trans),
      new WarningsSection(trans, cell => {
        if (this._memory) {
          scrollToCell(this._memory.panel, cell);
        }
      }),
      new GpuSection(trans),
      new ChartSection(trans, span => {
        if (this._memory) {
          scrollToCell(this._memory.panel, span);
        }
      }),
      new CellSection(trans),
      new VariablesSection(trans, () => this._memory?.connection.requestVariables())
    ];
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
    // Ages ("updated 3 s ago", "running for 12 s") must move between samples too.
    this._ageTimer = window.setInterval(() => this._render(), 1000);
  }

  protected onAfterHide(): void {
    window.clearInterval(this._ageTimer);
  }

  dispose(): void {
    window.clearInterval(this._ageTimer);
    this.memory = null;
    this._sections.forEach(section => section.dispose());
    super.dispose();
  }

  private _onModelChanged(_: unknown, change: MemoryChange): void {
    // Hidden panels skip the per-sample work; status changes still update the
    // data attributes other parts of the page may read.
    if (change === 'sample' && !this.isVisible) {
      return;
    }
    this._render();
  }

  private _build(): void {
    const header = element('div', 'jp-oomguard-header');
    header.append(
      element('h2', 'jp-oomguard-title', this._trans.__('Memory')),
      this._notebookName
    );
    this._reconnect.type = 'button';
    this._reconnect.addEventListener('click', () => {
      void this._memory?.connection.attach();
    });
    const footer = element('div', 'jp-oomguard-footer');
    footer.append(this._footerText, this._reconnect);
    const exports = element('div', 'jp-oomguard-exports');
    exports.append(element('span', 'jp-oomguard-label', this._trans.__('Export')));
    for (const [format, label] of [
      ['csv', 'CSV'],
      ['json', 'JSON'],
      ['trace', this._trans.__('Trace')]
    ] as [ExportFormat, string][]) {
      const button = element('button', 'jp-oomguard-export jp-mod-styled', label);
      button.type = 'button';
      button.dataset.format = format;
      button.addEventListener('click', () => this._onExport(format));
      exports.appendChild(button);
    }
    this.node.append(
      header,
      this._status,
      ...this._sections.map(section => section.node),
      exports,
      footer
    );
  }

  private _render(): void {
    const memory = this._memory;
    const model = memory?.model ?? null;
    this.node.dataset.oomguardState = model?.status.state ?? 'no-notebook';
    setText(
      this._notebookName,
      memory ? memory.panel.title.label : this._trans.__('No notebook is active.')
    );
    this._renderStatus();
    for (const section of this._sections) {
      section.render(model);
    }
    this._renderFooter();
  }

  private _renderStatus(): void {
    const model = this._memory?.model;
    const status = model?.status;
    const message = [status?.message, model?.shimError].filter(Boolean).join(' ');
    setText(this._status, message);
    this._status.dataset.state = status?.state ?? 'no-notebook';
    this._status.hidden = message === '';
    this._reconnect.hidden = !status || !RECONNECTABLE.includes(status.state);
    // Never attached (auto-attach off): the same button attaches for the first time.
    setText(
      this._reconnect,
      status?.state === 'detached' ? this._trans.__('Attach') : this._trans.__('Reconnect')
    );
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
      parts.push(trans.__('updated %1', formatAge((Date.now() - received) / 1000)));
    }
    setText(this._footerText, parts.join(' · '));
  }

  private _trans: TranslationBundle;
  private _onExport: (format: ExportFormat) => void;
  private _memory: INotebookMemory | null = null;
  private _sections: Section[];
  private _ageTimer = 0;
  private _notebookName = element('div', 'jp-oomguard-notebook');
  private _status = element('div', 'jp-oomguard-status');
  private _footerText = element('span', 'jp-oomguard-footer-text');
  private _reconnect = element('button', 'jp-oomguard-reconnect jp-mod-styled');
}
