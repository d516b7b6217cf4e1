import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ISignal, Signal } from '@lumino/signaling';
import { DEFAULT_THRESHOLDS, IThresholds } from './model/readingsModel';

/** The user's settings, as schema/settings/plugin.json defines them. */
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

/**
 * The schema's defaults, for the moments before the registry answers and where there
 * is none (a test keeps them equal to the schema's).
 */
export const DEFAULT_SETTINGS: IOomguardSettings = {
  autoAttach: true,
  sampleInterval: 1,
  thresholds: DEFAULT_THRESHOLDS,
  predictWhileEditing: true,
  predictDelay: 600,
  recordsInMetadata: false
};

/**
 * The settings in the registry's composite. The registry checked the user's values
 * against the schema (types and ranges) before it composed them with the schema's
 * defaults, and refuses to load or save values that fail: they are taken as they are.
 * (A red threshold below the amber one needs no rule: amber is then never reached.)
 */
export function settingsFrom(composite: ReadonlyPartialJSONObject): IOomguardSettings {
  const values = composite as unknown as Omit<IOomguardSettings, 'thresholds'> & IThresholds;
  return {
    autoAttach: values.autoAttach,
    sampleInterval: values.sampleInterval,
    thresholds: {
      warnPercent: values.warnPercent,
      criticalPercent: values.criticalPercent
    },
    predictWhileEditing: values.predictWhileEditing,
    predictDelay: values.predictDelay,
    recordsInMetadata: values.recordsInMetadata
  };
}

/**
 * The extension's settings, loaded once from the registry and kept current; the
 * defaults until then (or for good when there is no registry, or the user's settings
 * fail the schema: the registry says why in the console).
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

  /** Take the values of `settings` (loaded from the registry), now and as they change. */
  follow(settings: ISettingRegistry.ISettings): void {
    const apply = () => this._set(settingsFrom(settings.composite));
    apply();
    settings.changed.connect(apply);
  }

  private async _load(registry: ISettingRegistry, pluginId: string): Promise<void> {
    try {
      this.follow(await registry.load(pluginId));
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
