import { TranslationBundle } from '@jupyterlab/translation';
import { formatBytes, percentOf, Severity } from '../format';
import { ReadingsChange } from '../model/readingsModel';
import { INotebookMemory } from '../tokens';
import { IGpuReading } from '../protocol';
import { element, setText } from './dom';
import { detailRows, gauge, Section } from './section';

/** VRAM per GPU: the device's use, this kernel's share, PyTorch's allocator. */
export class GpuSection extends Section {
  constructor(trans: TranslationBundle) {
    super(trans, 'jp-oomguard-gpus', trans.__('GPU memory'));
    this.node.append(this._summary, this._devices);
  }

  protected listen(memory: INotebookMemory): void {
    this.watch(memory.model.readings.changed, (_, change: ReadingsChange) => {
      if (change === 'sample' || change === 'thresholds') {
        this.update();
      }
    });
  }

  render(): void {
    const readings = this.memory?.model.readings ?? null;
    const gpus = readings?.latest?.gpus;
    // Older shims send no `gpus`: show nothing rather than a wrong "no GPU".
    this.node.hidden = gpus === undefined;
    setText(
      this._summary,
      gpus === null
        ? this.trans.__('VRAM not measured (see the notes above).')
        : gpus?.length === 0
          ? this.trans.__('No GPU visible to this kernel.')
          : ''
    );
    this._summary.hidden = this._summary.textContent === '';
    const severity = (percent: number | null): Severity =>
      readings ? readings.severity(percent) : 'unknown';
    this._devices.replaceChildren(
      ...(gpus ?? []).map(gpu => this._device(gpu, severity))
    );
  }

  private _device(
    gpu: IGpuReading,
    severity: (percent: number | null) => Severity
  ): HTMLElement {
    const trans = this.trans;
    const node = element('div', 'jp-oomguard-gpu');
    node.setAttribute('role', 'group');
    node.setAttribute('aria-label', `cuda:${gpu.index} · ${gpu.name}`);
    node.dataset.oomguardGpuUsed = gpu.used === null ? '' : String(gpu.used);
    const percent = percentOf(gpu.used, gpu.total);
    node.append(
      element('div', 'jp-oomguard-gpu-name', `cuda:${gpu.index} · ${gpu.name}`),
      element(
        'div',
        'jp-oomguard-gpu-used',
        trans.__('%1 of %2', formatBytes(gpu.used), formatBytes(gpu.total))
      ),
      gauge(percent, severity(percent), trans.__('cuda:%1 memory in use', gpu.index)),
      ...detailRows([
        [trans.__('This kernel'), formatBytes(gpu.process_used)],
        [trans.__('PyTorch allocated'), formatBytes(gpu.torch_allocated)],
        [trans.__('PyTorch reserved'), formatBytes(gpu.torch_reserved)]
      ])
    );
    return node;
  }

  private _summary = element('div', 'jp-oomguard-gpu-summary');
  private _devices = element('div', 'jp-oomguard-gpu-list');
}
