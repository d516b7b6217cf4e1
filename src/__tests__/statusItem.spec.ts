import { Signal } from '@lumino/signaling';
import { MemoryModel } from '../model/memoryModel';
import { OomguardSettings } from '../settings';
import { IMemoryTracker, INotebookMemory } from '../tokens';
import { MemoryStatusItem } from '../views/statusItem';
import { gpu, sample, trans } from './fixtures';

function trackerWith(model: MemoryModel | null) {
  const tracker = {
    current: model ? ({ model } as unknown as INotebookMemory) : null,
    currentChanged: new Signal<IMemoryTracker, INotebookMemory | null>({} as any),
    get: () => undefined,
    settings: new OomguardSettings()
  };
  return tracker;
}

describe('MemoryStatusItem', () => {
  it('shows RAM and each GPU against their limits, coloured by severity', () => {
    const model = new MemoryModel();
    const onClick = jest.fn();
    const item = new MemoryStatusItem(trackerWith(model), trans, onClick);
    expect(item.isHidden).toBe(true);
    model.handleMessage(sample({ rss: 12 * 2 ** 30, limit: 12.5 * 2 ** 30, gpus: [gpu()] }));
    expect(item.node.textContent).toBe('RAM 12.0 GiB / 12.5 GiB · GPU0 3.0 GiB / 15.0 GiB');
    expect(item.node.dataset.severity).toBe('critical');
    item.node.click();
    expect(onClick).toHaveBeenCalled();
  });

  it('follows the active notebook', () => {
    const first = new MemoryModel();
    const second = new MemoryModel();
    const tracker = trackerWith(first);
    const item = new MemoryStatusItem(tracker, trans, () => undefined);
    tracker.current = { model: second } as unknown as INotebookMemory;
    tracker.currentChanged.emit(tracker.current);
    first.handleMessage(sample({ rss: 2 ** 30, limit: null }));
    expect(item.node.textContent).toBe('');
    second.handleMessage(sample({ rss: 2 ** 30, limit: null }));
    expect(item.node.textContent).toBe('RAM 1.0 GiB');
  });

  it('opens the panel from the keyboard too, and names itself', () => {
    const model = new MemoryModel();
    const onClick = jest.fn();
    const item = new MemoryStatusItem(trackerWith(model), trans, onClick);
    model.handleMessage(sample({ rss: 2 ** 30, limit: 2 ** 32, gpus: [] }));
    expect(item.node.getAttribute('role')).toBe('button');
    expect(item.node.tabIndex).toBe(0);
    expect(item.node.getAttribute('aria-label')).toBe(
      'Kernel memory (oomguard): RAM 1.0 GiB / 4.0 GiB. Open the Memory panel'
    );
    item.node.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter' }));
    item.node.dispatchEvent(new KeyboardEvent('keydown', { key: ' ' }));
    item.node.dispatchEvent(new KeyboardEvent('keydown', { key: 'a' }));
    expect(onClick).toHaveBeenCalledTimes(2);
  });
});
