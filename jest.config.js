/**
 * Unit tests for the front end's logic (protocol, model, formatting, views).
 * Only modules that need no running JupyterLab are tested here; the extension as a
 * whole is tested in a real JupyterLab by ui-tests/.
 */
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
