/**
 * The settings are checked once, by the setting registry against
 * schema/settings/plugin.json: here the real registry (and its schema validator) with a
 * stand-in for the server.
 */
import { ISettingRegistry, SettingRegistry } from '@jupyterlab/settingregistry';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import schema from '../../schema/settings/plugin.json';
import { DEFAULT_SETTINGS, OomguardSettings, settingsFrom } from '../settings';

const PLUGIN_ID = 'jupyterlab-oomguard:plugin';

/** A registry whose server holds `raw` as the user's settings of our plugin. */
function registryWith(raw: string): ISettingRegistry {
  const connector = {
    fetch: async (id: string) => ({ id, raw, schema, version: 'test' }),
    list: async () => ({ ids: [PLUGIN_ID], values: [] }),
    save: async () => undefined,
    remove: async () => undefined
  };
  return new SettingRegistry({ connector: connector as any });
}

describe('settings', () => {
  it('default to what the schema says', () => {
    const defaults = Object.fromEntries(
      Object.entries(schema.properties).map(([key, spec]) => [key, (spec as { default: unknown }).default])
    );
    expect(settingsFrom(defaults as ReadonlyPartialJSONObject)).toEqual(DEFAULT_SETTINGS);
  });

  it("take the user's values the registry accepted", async () => {
    const settings = new OomguardSettings();
    await settings.load(registryWith('{"sampleInterval": 0.5, "criticalPercent": 90}'), PLUGIN_ID);
    expect(settings.values).toEqual({
      ...DEFAULT_SETTINGS,
      sampleInterval: 0.5,
      thresholds: { warnPercent: 80, criticalPercent: 90 }
    });
  });

  it('keep the defaults when the values fail the schema, saying why', async () => {
    const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    for (const raw of ['{"sampleInterval": 0}', '{"predictDelay": "soon"}', '{"warnPercent": 101}']) {
      const settings = new OomguardSettings();
      await settings.load(registryWith(raw), PLUGIN_ID);
      expect(settings.values).toEqual(DEFAULT_SETTINGS);
    }
    expect(error).toHaveBeenCalledTimes(3);
    error.mockRestore();
    warn.mockRestore();
  });
});
