/**
 * Unit tests for the front end's logic (protocol, model, formatting, views).
 * Only modules that need no running JupyterLab are tested here; the extension as a
 * whole is tested in a real JupyterLab by ui-tests/.
 */
// A zone with a half-hour offset, so that nothing passes only where local time is UTC
// (exportParity.spec.ts writes local times from both exporters). Set here, before the
// test processes start: a test cannot change its own process's zone.
process.env.TZ = 'Asia/Kolkata';

module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/src'],
  setupFiles: ['<rootDir>/jest.setup.js'],
  testRegex: 'src/__tests__/.*\\.spec\\.ts$',
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }],
    // The settings are validated by JupyterLab's own registry (an ES module), tested
    // for real in settings.spec.ts.
    '^.+/@jupyterlab/settingregistry/lib/.+\\.js$': [
      'ts-jest',
      { tsconfig: { allowJs: true, module: 'commonjs', esModuleInterop: true } }
    ]
  },
  transformIgnorePatterns: ['/node_modules/(?!@jupyterlab/settingregistry/)']
};
