import type { NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { CellsChange } from '../model/cellsModel';
import { MemoryModel } from '../model/memoryModel';
import { WarningsChange } from '../model/warningsModel';
import { IWarningMessage, warningSetting } from '../protocol';
import { cellById } from './findCell';
import { element } from './dom';
import { CAP_LINE, findingFigures, singleCallText, warningTitle } from './warningText';

const BANNER_CLASS = 'jp-oomguard-warning';

/**
 * A banner at the top of a cell the shim predicted not to fit in free memory: what, on
 * which line, how big against what is free (exact or an estimate, in auto mode), and
 * what to do instead. A blocked cell did not run, and the banner offers to run it
 * anyway; where one call is too big for anything but the hard cap, it gives the line
 * that turns the cap on. The banner goes when the cell runs again without a warning.
 *
 * A run's warning comes after its `cell_start` and before its `cell` record, but a cell
 * that ends within a poll of its start sends no `cell_start` (docs/protocol.md): then
 * its record alone says that it ran again, and a banner not shown during that run goes.
 */
export class CellWarnings implements IDisposable {
  constructor(
    private _panel: NotebookPanel,
    private _model: MemoryModel,
    private _trans: TranslationBundle,
    private _runAnyway: (cellId: string) => Promise<void>
  ) {
    _model.warnings.changed.connect(this._onWarning, this);
    _model.cells.changed.connect(this._onCells, this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (!this._isDisposed) {
      this._isDisposed = true;
      this._model.warnings.changed.disconnect(this._onWarning, this);
      this._model.cells.changed.disconnect(this._onCells, this);
    }
  }

  private _onWarning(_: unknown, change: WarningsChange): void {
    if (change.kind === 'warning') {
      this._show(change.warning);
    }
  }

  private _onCells(_: unknown, change: CellsChange): void {
    if (change.kind === 'running' && change.cell?.cell_id) {
      // A new run: the banner of an earlier run goes. This run's own warning, if any,
      // comes after cell_start (the check runs when the cell is compiled).
      this._remove(change.cell.cell_id);
    } else if (change.kind === 'record' && change.record.cell_id) {
      const cellId = change.record.cell_id;
      if (!this._shownThisRun.has(cellId)) {
        this._remove(cellId); // an earlier run's: this run was too short for a cell_start
      }
      this._shownThisRun.delete(cellId);
    }
  }

  private _show(warning: IWarningMessage): void {
    const cell = cellById(this._panel.content, warning.cell_id);
    if (!cell) {
      return;
    }
    const trans = this._trans;
    this._remove(cell.model.id);
    this._shownThisRun.add(cell.model.id);
    const banner = element('div', BANNER_CLASS);
    banner.dataset.mode = warning.mode;
    banner.dataset.setting = warningSetting(warning);
    // Said at once by screen readers, and named as ours among the cell's parts.
    banner.setAttribute('role', 'alert');
    banner.setAttribute('aria-label', trans.__('Memory warning (oomguard)'));
    banner.appendChild(element('div', 'jp-oomguard-warning-title', warningTitle(warning, trans)));
    for (const finding of warning.findings) {
      const item = element('div', 'jp-oomguard-warning-finding');
      item.dataset.exact = String(finding.exact === true);
      item.append(
        element('div', 'jp-oomguard-warning-figures', findingFigures(finding, warning, trans)),
        element('div', 'jp-oomguard-warning-message', finding.message),
        element('div', 'jp-oomguard-warning-suggestion', finding.suggestion)
      );
      banner.appendChild(item);
    }
    const onlyTheCap = singleCallText(warning, trans);
    if (onlyTheCap) {
      const cap = element('div', 'jp-oomguard-warning-cap', onlyTheCap);
      cap.append(' ', element('code', 'jp-oomguard-warning-cap-line', CAP_LINE));
      banner.appendChild(cap);
    }
    if (warning.mode === 'block' && warning.cell_id) {
      const cellId = warning.cell_id;
      const button = element(
        'button',
        'jp-oomguard-run-anyway jp-mod-styled jp-mod-warn',
        trans.__('Run anyway')
      );
      button.type = 'button';
      button.addEventListener('click', () => {
        button.disabled = true;
        void this._runAnyway(cellId).finally(() => (button.disabled = false));
      });
      banner.appendChild(button);
    }
    cell.node.insertBefore(banner, cell.node.firstChild);
  }

  private _remove(cellId: string): void {
    this._shownThisRun.delete(cellId);
    const cell = cellById(this._panel.content, cellId);
    cell?.node.querySelector(`:scope > .${BANNER_CLASS}`)?.remove();
  }

  private _isDisposed = false;
  /** Cells whose banner came during the run now under way (their record is to come). */
  private _shownThisRun = new Set<string>();
}
