import { TranslationBundle } from '@jupyterlab/translation';
import { formatBytes } from '../format';
import { ReadingsChange } from '../model/readingsModel';
import { WarningsChange } from '../model/warningsModel';
import { INotebookMemory } from '../tokens';
import { ILeakHint, IVariableInfo } from '../protocol';
import { element, setText } from './dom';
import { Section } from './section';

/** Rows drawn at most; a namespace of thousands of names is filtered, not scrolled. */
const SHOWN = 200;

type SortKey = 'name' | 'type' | 'bytes' | 'growth';

interface IRow {
  variable: IVariableInfo;
  growth: number | 'new' | null;
  hint: ILeakHint | undefined;
}

/**
 * The kernel's variables as the shim measured them (never by repr): sortable by any
 * column, filtered by name or type, with what each grew by since the previous cell
 * and the leak hints against them. The scan runs on request: it is not free, and a
 * request waits for the shell while a cell runs. Growth comes from the sizes the
 * shim sends after each cell, off the cell's path.
 */
export class VariablesSection extends Section {
  constructor(trans: TranslationBundle, onScan: () => void) {
    super(trans, 'jp-oomguard-variables', trans.__('Variables'));
    this._scan.type = 'button';
    setText(this._scan, trans.__('Scan'));
    this._scan.addEventListener('click', onScan);
    this._filter.type = 'search';
    this._filter.placeholder = trans.__('Filter by name or type');
    this._filter.setAttribute('aria-label', trans.__('Filter variables'));
    this._filter.addEventListener('input', () => this._draw());
    const tools = element('div', 'jp-oomguard-variables-tools');
    tools.append(this._scan, this._filter);
    this._table.setAttribute('aria-label', trans.__('Variables in the kernel'));
    this._table.append(this._head(), this._body);
    this.node.append(tools, this._summary, this._table, this._more);
  }

  protected listen(memory: INotebookMemory): void {
    const model = memory.model;
    this.watch(model.variables.changed, () => this.update());
    // The leak hints sit next to the growth they are about.
    this.watch(model.warnings.changed, (_, change: WarningsChange) => {
      if (change.kind === 'hints') {
        this.update();
      }
    });
    this.watch(model.readings.changed, (_, change: ReadingsChange) => {
      if (change === 'status') {
        this._scan.disabled = model.readings.status.state !== 'connected';
      }
    });
  }

  /** Rebuilds the table: only a scan, the sizes after a cell or the hints change it. */
  render(): void {
    this._scan.disabled = this.memory?.model.readings.status.state !== 'connected';
    this._draw();
  }

  private _draw(): void {
    const trans = this.trans;
    const model = this.memory?.model ?? null;
    const scan = model?.variables.scan ?? null;
    this._filter.hidden = !scan;
    this._table.hidden = !scan;
    if (!model || !scan) {
      setText(this._summary, trans.__('Not scanned yet.'));
      this._body.replaceChildren();
      setText(this._more, '');
      return;
    }
    const total = scan.variables.reduce((sum, v) => sum + (v.bytes ?? 0), 0);
    const took = Math.round(scan.took * 1000);
    setText(
      this._summary,
      (scan.truncated
        ? trans._n(
            '%1 variable, %2 in all, cut short (scan took %3 ms)',
            '%1 variables, %2 in all, cut short (scan took %3 ms)',
            scan.variables.length,
            formatBytes(total),
            took
          )
        : trans._n(
            '%1 variable, %2 in all (scan took %3 ms)',
            '%1 variables, %2 in all (scan took %3 ms)',
            scan.variables.length,
            formatBytes(total),
            took
          ))
    );
    const hints = new Map(model.warnings.hints.map(hint => [hint.name, hint]));
    const query = this._filter.value.trim().toLowerCase();
    const rows: IRow[] = scan.variables
      .filter(
        v =>
          !query ||
          v.name.toLowerCase().includes(query) ||
          v.type.toLowerCase().includes(query)
      )
      .map(variable => ({
        variable,
        growth: model.variables.growthOf(variable.name),
        hint: hints.get(variable.name)
      }));
    rows.sort((a, b) => this._compare(a, b));
    this._body.replaceChildren(...rows.slice(0, SHOWN).map(row => this._row(row)));
    this._table.dataset.rows = String(rows.length);
    setText(
      this._more,
      rows.length > SHOWN
        ? trans.__('%1 more: narrow the filter to see them.', rows.length - SHOWN)
        : query && rows.length === 0
          ? trans.__('No variable matches "%1".', this._filter.value)
          : ''
    );
    this._updateHeaders();
  }

  private _compare(a: IRow, b: IRow): number {
    const direction = this._descending ? -1 : 1;
    const value = (row: IRow): string | number => {
      switch (this._sortKey) {
        case 'name':
          return row.variable.name.toLowerCase();
        case 'type':
          return row.variable.type.toLowerCase();
        case 'bytes':
          return row.variable.bytes ?? -1;
        case 'growth':
          // New variables grew by all they hold.
          return row.growth === 'new'
            ? (row.variable.bytes ?? 0)
            : (row.growth ?? Number.NEGATIVE_INFINITY);
      }
    };
    const [x, y] = [value(a), value(b)];
    return x < y ? -direction : x > y ? direction : 0;
  }

  /**
   * Three columns, so that sizes fit a narrow sidebar: name over type, size, growth.
   * The first header sorts by name or by type.
   */
  private _head(): HTMLElement {
    const trans = this.trans;
    const row = element('tr', 'jp-oomguard-variable-head');
    const columns: [string, [SortKey, string, string][]][] = [
      [
        'what',
        [
          ['name', trans.__('Name'), ''],
          ['type', trans.__('Type'), '']
        ]
      ],
      ['bytes', [['bytes', trans.__('Size'), '']]],
      ['growth', [['growth', trans.__('Growth'), trans.__('Change since the previous cell')]]]
    ];
    for (const [column, keys] of columns) {
      const header = element('th', 'jp-oomguard-variable-column');
      header.dataset.column = column;
      header.scope = 'col';
      for (const [key, label, title] of keys) {
        header.appendChild(this._sortButton(key, label, title));
      }
      row.appendChild(header);
    }
    const head = element('thead', '');
    head.appendChild(row);
    return head;
  }

  private _sortButton(key: SortKey, label: string, title: string): HTMLElement {
    const button = element('button', 'jp-oomguard-sort', label);
    button.type = 'button';
    button.dataset.sortKey = key;
    button.title = title || this.trans.__('Sort by %1', label);
    button.addEventListener('click', () => {
      // Sizes read best largest first; names and types A to Z.
      const numeric = key === 'bytes' || key === 'growth';
      this._descending = this._sortKey === key ? !this._descending : numeric;
      this._sortKey = key;
      this._draw();
    });
    return button;
  }

  private _updateHeaders(): void {
    const order = this._descending ? 'descending' : 'ascending';
    for (const header of this._table.querySelectorAll<HTMLElement>('th')) {
      const sorted = header.querySelector(`[data-sort-key="${this._sortKey}"]`) !== null;
      header.setAttribute('aria-sort', sorted ? order : 'none');
    }
    for (const button of this._table.querySelectorAll<HTMLElement>('.jp-oomguard-sort')) {
      button.dataset.sorted = button.dataset.sortKey === this._sortKey ? order : '';
    }
  }

  private _row({ variable, growth, hint }: IRow): HTMLElement {
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
    const what = element('td', 'jp-oomguard-variable-what');
    what.title = variable.type;
    what.append(
      element('div', 'jp-oomguard-variable-name', variable.name),
      element('div', 'jp-oomguard-variable-type', `${shortType} ${layout}`.trim())
    );
    const growthCell = element('td', 'jp-oomguard-variable-growth', this._growthText(growth));
    growthCell.dataset.growth =
      growth === 'new' ? 'new' : growth === null ? '' : String(growth);
    if (hint) {
      // Growth is where a leak shows: the hint sits next to it.
      row.dataset.leak = hint.kind;
      const mark = element('span', 'jp-oomguard-variable-leak', ' ⚠');
      mark.title = `${hint.message} ${hint.suggestion}`;
      mark.setAttribute('role', 'img');
      mark.setAttribute('aria-label', hint.message);
      growthCell.appendChild(mark);
    }
    row.append(what, size, growthCell);
    return row;
  }

  private _growthText(growth: number | 'new' | null): string {
    if (growth === 'new') {
      return this.trans.__('new');
    }
    if (growth === null) {
      return '—';
    }
    return growth > 0 ? `+${formatBytes(growth)}` : growth === 0 ? '0' : formatBytes(growth);
  }

  private _sortKey: SortKey = 'bytes';
  private _descending = true;
  private _scan = element('button', 'jp-oomguard-scan jp-mod-styled');
  private _filter = element('input', 'jp-oomguard-variable-filter jp-mod-styled');
  private _summary = element('div', 'jp-oomguard-variables-summary');
  private _table = element('table', 'jp-oomguard-variable-table');
  private _body = element('tbody', '');
  private _more = element('div', 'jp-oomguard-variables-more');
}
