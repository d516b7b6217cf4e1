/**
 * Playwright configuration for the jupyterlab-oomguard UI tests.
 *
 * Based on galata's default JupyterLab configuration, adapted to:
 * - Debian's Chromium (/usr/bin/chromium): no Playwright browser download;
 *   override with PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH (empty string = use
 *   Playwright's own downloaded browser, if any).
 * - a small (2-core) machine: a single worker and generous timeouts.
 *
 * Install & run (from ui-tests/, with the project venv first on PATH):
 *   PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci
 *   npx playwright test
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const CI = !!process.env.CI;
// One id per run, inherited by the workers (they load this file again): the memory
// cgroups a run makes carry it, and its global teardown removes what is left of them.
process.env.OOMGUARD_UI_TESTS_RUN = process.env.OOMGUARD_UI_TESTS_RUN || String(process.pid);
const PORT = process.env.OOMGUARD_UI_TESTS_PORT || '8888';
const BASE_URL = process.env.TARGET_URL || `http://localhost:${PORT}`;

const executablePath =
  process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH !== undefined
    ? process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH || undefined
    : '/usr/bin/chromium';

// Video recording needs Playwright's own ffmpeg build, which is downloaded
// with the browsers (`playwright install ffmpeg`); we skip that download, so
// only record videos when it is there.
const hasPlaywrightFfmpeg = (() => {
  const browsersPath =
    process.env.PLAYWRIGHT_BROWSERS_PATH ||
    path.join(os.homedir(), '.cache', 'ms-playwright');
  try {
    return fs
      .readdirSync(browsersPath)
      .some(d => d.startsWith('ffmpeg-') &&
        fs.existsSync(path.join(browsersPath, d, 'ffmpeg-linux')));
  } catch (e) {
    return false;
  }
})();

module.exports = {
  ...baseConfig,
  testDir: './tests',
  globalTeardown: './tests/helpers/cgroupTeardown.ts',
  // Whole test (fixtures included: page load, kernel start) budget.
  timeout: 180 * 1000,
  expect: {
    timeout: 30 * 1000
  },
  // Single worker: one JupyterLab server, 2-core machine, and the memory
  // tests must not measure each other's kernels.
  workers: 1,
  fullyParallel: false,
  forbidOnly: CI,
  retries: CI ? 1 : 0,
  reporter: [
    // GitHub's annotations only where GitHub reads them; CI=true elsewhere (our CI, a
    // local run) gets the readable list.
    [process.env.GITHUB_ACTIONS ? 'github' : 'list'],
    ['html', { open: 'never', outputFolder: 'playwright-report' }]
  ],
  outputDir: 'test-results',
  // Keep reference screenshots next to the specs, in the repo:
  // ui-tests/tests/<spec file>-snapshots/<name>.png (no platform suffix).
  snapshotPathTemplate: '{testDir}/{testFilePath}-snapshots/{arg}{ext}',
  use: {
    ...baseConfig.use,
    baseURL: BASE_URL,
    headless: process.env.HEADED ? false : true,
    actionTimeout: 30 * 1000,
    navigationTimeout: 120 * 1000,
    trace: 'on-first-retry',
    screenshot: 'only-on-failure',
    video: hasPlaywrightFfmpeg ? 'retain-on-failure' : 'off',
    launchOptions: {
      executablePath,
      // Playwright already passes --no-sandbox (chromiumSandbox defaults to
      // false), which Chromium needs when running as root.
      args: ['--disable-dev-shm-usage', '--disable-gpu']
    }
  },
  projects: [
    {
      name: 'chromium',
      use: { browserName: 'chromium' }
    }
  ],
  webServer: {
    command: 'npm start',
    url: `${BASE_URL}/lab`,
    timeout: 240 * 1000,
    reuseExistingServer: !CI,
    // Jupyter logs to stderr; UI_TESTS_QUIET_SERVER=1 hides the server log.
    stdout: process.env.UI_TESTS_QUIET_SERVER ? 'ignore' : 'pipe',
    stderr: process.env.UI_TESTS_QUIET_SERVER ? 'ignore' : 'pipe'
  }
};
