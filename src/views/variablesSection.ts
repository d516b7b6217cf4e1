import { TranslationBundle } from '@jupyterlab/translation';
import { formatBytes } from '../format';
import { MemoryModel } from '../model/memoryModel';
import { IVariableInfo } from '../protocol';
import { element, setText } from './dom';
import { Section } from './section';

const SHOWN = 15;

/**
 * The largest variables in the kernel's namespace, as the shim measured them
 * (never by repr). The scan runs on request: it is not free, and a request waits
 * for the shell while a cell runs.
 */
export class VariablesSection extends Section {
  constructor(trans: TranslationBundle, onScan: () => void) {
    super(trans, 'jp-oomguard-variables', trans.__('Largest variables'));
    this._scan.type = 'button';
    setText(this._scan, trans.__('Scan'));
    this._scan.addEventListener('click', onScan);
    this.node.append(this._scan, this._summary, this._table);
  }

  render(model: MemoryModel | null): void {
    const trans = this.trans;
    this._scan.disabled = model?.status.state !== 'connected';
    const scan = model?.variables ?? null;
    if (!scan) {
      setText(this._summary, trans.__('Not scanned yet.'));
      this._table.replaceChildren();
      return;
    }
    setText(
      this._summary,
      trans.__(
        '%1 variables, %2 in all%3 (scan took %4 ms)',
        scan.variables.length,
        formatBytes(scan.variables.reduce((sum, v) => sum + (v.bytes ?? 0), 0)),
        scan.truncated ? trans.__(', cut short') : '',
        Math.round(scan.took * 1000)
      )
    );
    this._table.replaceChildren(
      ...scan.variables.slice(0, SHOWN).map(variable => this._row(variable))
    );
  }

  private _row(variable: IVariableInfo): HTMLElement {
    const trans = this.trans;
    const row = element('tr', 'jp-oomguard-variable');
    const shortType = variable.type.split('.').pop() ?? variable.type;
    const layout = [
      variable.shape ? `(${variable.shape.join(', ')})` : '',
      variable.dtype ?? '',
      variable.device ?? ''
    ]
      .filter(Boolean)
      .join(' ');
    const size = element('td', 'jp-oomguard-variable-bytes', formatBytes(variable.bytes));
    const marks: string[] = [];
    if (variable.shared_with.length) {
      marks.push(trans.__('shares storage with %1', variable.shared_with.join(', ')));
    }
    if (variable.truncated) {
      marks.push(trans.__('at least this much: the walk was cut short'));
    }
    if (marks.length) {
      size.title = marks.join('; ');
      size.textContent = `${size.textContent} *`;
    }
    const name = element('td', 'jp-oomguard-variable-name', variable.name);
    name.title = variable.type;
    row.append(
      name,
      element('td', 'jp-oomguard-variable-type', `${shortType} ${layout}`.trim()),
      size
    );
    return row;
  }

  private _scan = element('button', 'jp-oomguard-scan jp-mod-styled');
  private _summary = element('div', 'jp-oomguard-variables-summary');
  private _table = element('table', 'jp-oomguard-variable-table');
}
