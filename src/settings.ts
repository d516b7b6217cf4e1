import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ISignal, Signal } from '@lumino/signaling';
import { DEFAULT_THRESHOLDS, IThresholds } from './model/memoryModel';

/** The user's settings (schema/plugin.json), checked and clamped. */
export interface IOomguardSettings {
  /** Load the shim into each notebook's kernel without being asked. */
  autoAttach: boolean;
  /** Seconds between samples. */
  sampleInterval: number;
  thresholds: IThresholds;
  predictWhileEditing: boolean;
  /** Milliseconds of quiet after typing before the edited cell is predicted. */
  predictDelay: number;
  recordsInMetadata: boolean;
}

export const DEFAULT_SETTINGS: IOomguardSettings = {
  autoAttach: true,
  sampleInterval: 1,
  thresholds: DEFAULT_THRESHOLDS,
  predictWhileEditing: true,
  predictDelay: 600,
  recordsInMetadata: false
};

/**
 * Settings from raw values (the registry's composite), falling back to the defaults
 * for anything missing or of the wrong type, and clamped to what the schema allows.
 */
export function readSettings(raw: (key: string) => unknown): IOomguardSettings {
  const number = (key: string, fallback: number, min: number, max: number) => {
    const value = raw(key);
    return typeof value === 'number' && Number.isFinite(value)
      ? Math.min(max, Math.max(min, value))
      : fallback;
  };
  const flag = (key: string, fallback: boolean) => {
    const value = raw(key);
    return typeof value === 'boolean' ? value : fallback;
  };
  const defaults = DEFAULT_SETTINGS;
  const criticalPercent = number('criticalPercent', defaults.thresholds.criticalPercent, 1, 100);
  const warnPercent = number('warnPercent', defaults.thresholds.warnPercent, 1, 100);
  return {
    autoAttach: flag('autoAttach', defaults.autoAttach),
    sampleInterval: number('sampleInterval', defaults.sampleInterval, 0.1, 60),
    // A red threshold below the amber one would make amber unreachable.
    thresholds: { warnPercent: Math.min(warnPercent, criticalPercent), criticalPercent },
    predictWhileEditing: flag('predictWhileEditing', defaults.predictWhileEditing),
    predictDelay: number('predictDelay', defaults.predictDelay, 100, 10000),
    recordsInMetadata: flag('recordsInMetadata', defaults.recordsInMetadata)
  };
}

/**
 * The extension's settings, loaded once from the registry and kept current; the
 * defaults until then (or for good when there is no registry).
 */
export class OomguardSettings {
  get values(): IOomguardSettings {
    return this._values;
  }

  get changed(): ISignal<this, IOomguardSettings> {
    return this._changed;
  }

  /** Settles when the user's settings are read (or could not be): until then, the defaults. */
  get loaded(): Promise<void> {
    return this._loading ?? Promise.resolve();
  }

  load(registry: ISettingRegistry, pluginId: string): Promise<void> {
    this._loading = this._load(registry, pluginId);
    return this._loading;
  }

  private async _load(registry: ISettingRegistry, pluginId: string): Promise<void> {
    try {
      const settings = await registry.load(pluginId);
      const apply = () => this._set(readSettings(key => settings.get(key).composite));
      apply();
      settings.changed.connect(apply);
    } catch (reason) {
      console.error('oomguard: could not load settings; using the defaults', reason);
    }
  }

  private _set(values: IOomguardSettings): void {
    this._values = values;
    this._changed.emit(values);
  }

  private _values = DEFAULT_SETTINGS;
  private _loading: Promise<void> | null = null;
  private _changed = new Signal<this, IOomguardSettings>(this);
}
