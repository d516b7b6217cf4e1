import { CellMetadataWriter, METADATA_KEY, metadataRecord } from '../export/cellMetadata';
import { MemoryModel } from '../model/memoryModel';
import { cellRecord } from './fixtures';

function fakePanel(ids: string[]) {
  const metadata = new Map<string, Record<string, unknown>>();
  const panel = {
    content: {
      widgets: ids.map(id => ({
        model: {
          id,
          setMetadata: (key: string, value: unknown) =>
            metadata.set(id, { ...(metadata.get(id) ?? {}), [key]: value })
        }
      }))
    }
  };
  return { panel, metadata };
}

describe('CellMetadataWriter', () => {
  it('stores the last record of a cell under "oomguard" when turned on', () => {
    const { panel, metadata } = fakePanel(['a', 'b']);
    const model = new MemoryModel();
    let enabled = false;
    new CellMetadataWriter(panel as any, model.cells, () => enabled);
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'b' }) });
    expect(metadata.size).toBe(0); // off by default: no git diffs
    enabled = true;
    model.handleMessage({ v: 1, type: 'cell_start', execution_count: 4, cell_id: 'b', start: 1 });
    expect(metadata.size).toBe(0); // nothing while it runs
    model.handleMessage({
      v: 1,
      type: 'cell',
      record: cellRecord({ cell_id: 'b', execution_count: 4, start: 1_700_000_000.25 })
    });
    const stored = metadata.get('b')?.[METADATA_KEY] as Record<string, unknown>;
    expect(stored).toEqual({
      execution_count: 4,
      start: '2023-11-14T22:13:20.250Z',
      duration: 1.25,
      ram_before: 100 * 2 ** 20,
      ram_after: 612 * 2 ** 20,
      ram_peak: 1124 * 2 ** 20,
      ram_delta: 512 * 2 ** 20,
      ram_peak_delta: 1024 * 2 ** 20,
      peak_method: 'hwm',
      gpu: [],
      status: 'ok'
    });
    expect(metadata.has('a')).toBe(false);
  });

  it('keeps only figures: no notes or findings text from the kernel', () => {
    const record = metadataRecord(
      cellRecord({ notes: ['a note'], findings: [{ message: 'x' }], duration: 0.123456 }) as any
    );
    expect(Object.keys(record)).not.toContain('notes');
    expect(Object.keys(record)).not.toContain('findings');
    expect(record.duration).toBe(0.123);
  });
});
