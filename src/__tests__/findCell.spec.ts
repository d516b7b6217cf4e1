import { cellName, firstLine } from '../views/findCell';
import { fakeMemory, trans } from './fixtures';

describe('cellName', () => {
  const { content } = fakeMemory(null, {
    cells: [
      { id: 'md', type: 'markdown', source: '# Data' },
      { id: 'a', source: '\n\n   edge_index = torch.randint(0, n, (2, 10_000_000))' },
      { id: 'b', source: '' },
      { id: 'c', source: 'x = 1', executionCount: 7 }
    ]
  });
  const notebook = content as any;

  it('names a cell by its place in the notebook and its first line', () => {
    expect(cellName(notebook, { cell_id: 'a', execution_count: 5 }, trans)).toBe(
      'cell 2 of 4 ("edge_index = torch.randint(0, n…")'
    );
    expect(cellName(notebook, { cell_id: 'b', execution_count: 5 }, trans)).toBe('cell 3 of 4');
  });

  it('finds a cell without an id by its execution count, else says the count', () => {
    expect(cellName(notebook, { cell_id: null, execution_count: 7 }, trans)).toBe(
      'cell 4 of 4 ("x = 1")'
    );
    expect(cellName(notebook, { cell_id: 'gone', execution_count: 5 }, trans)).toBe('cell [5]');
    expect(cellName(null, { cell_id: 'a', execution_count: null }, trans)).toBe('cell [ ]');
  });

  it('cuts the first line short', () => {
    expect(firstLine('  \n  short  \nsecond')).toBe('short');
    expect(firstLine('y'.repeat(40))).toBe('y'.repeat(31) + '…');
    expect(firstLine('')).toBe('');
  });
});
