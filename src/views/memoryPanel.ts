import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { ExportFormat } from '../export/timeline';
import { formatAge } from '../format';
import { ReadingsChange } from '../model/readingsModel';
import { INotebookMemory } from '../tokens';
import { CellSection } from './cellSection';
import { ChartSection } from './chartSection';
import { ClusterSection } from './clusterSection';
import { element, setText } from './dom';
import { cellName, ICellReference } from './findCell';
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
 * VRAM, the memory of the cluster it drives, the cells' costs and the largest
 * variables, live. Each section listens to the parts of the model it shows and renders
 * when they change; the panel itself renders the header (status) and footer. The
 * tracker tells it which notebook.
 */
export class MemoryPanel extends Widget {
  constructor(trans: TranslationBundle, onExport: (format: ExportFormat) => void) {
    super();
    this._onExport = onExport;
    this._trans = trans;
    this.addClass('jp-oomguard-panel');
    this.id = 'jp-oomguard-panel';
    this.title.caption = trans.__('Memory');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', trans.__('Memory (oomguard)'));
    const reveal = (cell: ICellReference) => {
      if (this._memory) {
        scrollToCell(this._memory.panel, cell);
      }
    };
    this._cells = new CellSection(trans, reveal);
    this._sections = [
      new RamSection(trans),
      new WarningsSection(trans, reveal),
      new GpuSection(trans),
      new ClusterSection(trans),
      new ChartSection(trans, reveal),
      this._cells,
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
    this._memory?.model.readings.changed.disconnect(this._onReadings, this);
    this._memory = memory;
    memory?.model.readings.changed.connect(this._onReadings, this);
    this._sections.forEach(section => (section.memory = memory));
    this._render();
  }

  protected onAfterAttach(): void {
    this._setShown(this.isVisible);
  }

  protected onBeforeDetach(): void {
    this._setShown(false);
  }

  protected onAfterShow(): void {
    this._setShown(true);
  }

  protected onAfterHide(): void {
    this._setShown(false);
  }

  dispose(): void {
    window.clearInterval(this._ageTimer);
    this.memory = null;
    this._sections.forEach(section => section.dispose());
    super.dispose();
  }

  /**
   * Hidden, the sections only note what changed and render once shown; the ages
   * ("updated 3 s ago", "running for 12 s") move every second while shown.
   */
  private _setShown(shown: boolean): void {
    window.clearInterval(this._ageTimer);
    if (shown) {
      this._ageTimer = window.setInterval(() => this._tick(), 1000);
    }
    this._sections.forEach(section => (section.shown = shown));
    this._renderFooter();
  }

  private _tick(): void {
    this._renderFooter();
    this._cells.tick();
  }

  private _onReadings(_: unknown, change: ReadingsChange): void {
    if (change === 'sample') {
      this._renderFooter();
    } else if (change !== 'spans' && change !== 'thresholds') {
      this._render();
    }
  }

  private _build(): void {
    const trans = this._trans;
    const header = element('div', 'jp-oomguard-header');
    header.append(element('h2', 'jp-oomguard-title', trans.__('Memory')), this._notebookName);
    this._status.setAttribute('role', 'status');
    this._status.setAttribute('aria-label', trans.__('Memory monitoring status'));
    this._statusCell.type = 'button';
    this._statusCell.addEventListener('click', () => {
      const cell = this._memory?.model.readings.status.cell;
      if (this._memory && cell) {
        scrollToCell(this._memory.panel, cell);
      }
    });
    this._status.append(this._statusText, this._statusCell);
    this._reconnect.type = 'button';
    this._reconnect.addEventListener('click', () => {
      void this._memory?.connection.attach();
    });
    const footer = element('div', 'jp-oomguard-footer');
    footer.append(this._footerText, this._reconnect);
    const exports = element('div', 'jp-oomguard-exports');
    exports.setAttribute('role', 'group');
    exports.setAttribute('aria-label', trans.__('Export the memory timeline'));
    exports.append(element('span', 'jp-oomguard-label', trans.__('Export')));
    for (const [format, label] of [
      ['csv', 'CSV'],
      ['json', 'JSON'],
      ['trace', trans.__('Trace')]
    ] as [ExportFormat, string][]) {
      const button = element('button', 'jp-oomguard-export jp-mod-styled', label);
      button.type = 'button';
      button.dataset.format = format;
      button.setAttribute('aria-label', trans.__('Export as %1', label));
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

  /** The header and status: what notebook, how the link stands. */
  private _render(): void {
    const memory = this._memory;
    const readings = memory?.model.readings ?? null;
    this.node.dataset.oomguardState = readings?.status.state ?? 'no-notebook';
    setText(
      this._notebookName,
      memory ? memory.panel.title.label : this._trans.__('No notebook is active.')
    );
    this._renderStatus();
    this._renderFooter();
  }

  private _renderStatus(): void {
    const trans = this._trans;
    const readings = this._memory?.model.readings;
    const status = readings?.status;
    const message = [status?.message, readings?.shimError].filter(Boolean).join(' ');
    setText(this._statusText, message);
    this._status.dataset.state = status?.state ?? 'no-notebook';
    this._status.hidden = message === '';
    // A death names its cell: a button takes the user there.
    const cell = status?.cell ?? null;
    this._statusCell.hidden = !cell;
    setText(
      this._statusCell,
      cell ? trans.__('Show %1', cellName(this._memory?.panel.content ?? null, cell, trans)) : ''
    );
    this._reconnect.hidden = !status || !RECONNECTABLE.includes(status.state);
    // Never attached (auto-attach off): the same button attaches for the first time.
    setText(
      this._reconnect,
      status?.state === 'detached' ? trans.__('Attach') : trans.__('Reconnect')
    );
  }

  private _renderFooter(): void {
    const trans = this._trans;
    const readings = this._memory?.model.readings;
    const hello = readings?.hello;
    const parts: string[] = [];
    if (hello) {
      this.node.dataset.oomguardPid = String(hello.pid);
      parts.push(trans.__('kernel pid %1', hello.pid), trans.__('every %1 s', hello.interval));
    } else {
      delete this.node.dataset.oomguardPid;
    }
    const received = readings?.lastReceivedAt;
    if (received) {
      parts.push(trans.__('updated %1', formatAge((Date.now() - received) / 1000)));
    }
    setText(this._footerText, parts.join(' · '));
  }

  private _trans: TranslationBundle;
  private _onExport: (format: ExportFormat) => void;
  private _memory: INotebookMemory | null = null;
  private _cells: CellSection;
  private _sections: Section[];
  private _ageTimer = 0;
  private _notebookName = element('div', 'jp-oomguard-notebook');
  private _status = element('div', 'jp-oomguard-status');
  private _statusText = element('span', 'jp-oomguard-status-text');
  private _statusCell = element('button', 'jp-oomguard-status-cell jp-oomguard-link');
  private _footerText = element('span', 'jp-oomguard-footer-text');
  private _reconnect = element('button', 'jp-oomguard-reconnect jp-mod-styled');
}
