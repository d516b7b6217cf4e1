/**
 * Timeline chart benchmark: a day of samples in headless Chromium.
 *
 *     node benchmarks/chart/bench.mjs            # builds lib/, measures, updates docs/benchmarks.md
 *     node benchmarks/chart/bench.mjs --print    # measures and prints the section only
 *
 * Loads the extension's own compiled modules (lib/model/timelineSeries.js,
 * lib/views/timelineChart.js, uPlot from node_modules) into a bare page in Debian's
 * Chromium (/usr/bin/chromium, or PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH) through
 * ui-tests' Playwright, with no JupyterLab around them, so only the chart is measured.
 * It feeds 24 hours of 1 Hz samples (86,400: RAM, limit, one GPU) and 2,000 cell
 * spans, then times adding one sample and redrawing, 200 times, and reads the JS
 * heap (CDP Runtime.getHeapUsage after HeapProfiler.collectGarbage) before and after.
 * The section goes into docs/benchmarks.md between the markers below; benchmarks/run.py
 * calls this script with --print when it rewrites that file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOC = path.join(ROOT, 'docs', 'benchmarks.md');
const START = '<!-- chart-benchmark:start -->';
const END = '<!-- chart-benchmark:end -->';
const ORIGIN = 'http://oomguard-bench.local';

const SAMPLES = 86_400;
const SPANS = 2_000;
const ADDITIONS = 200;
const TARGET_MS = 5;
const TARGET_MB = 50;

const print = process.argv.includes('--print');
const { chromium } = createRequire(path.join(ROOT, 'ui-tests', 'package.json'))('playwright');

// The page under test: a sidebar-wide box, uPlot's stylesheet, our modules.
const PAGE = `<!doctype html>
<html><head>
<link rel="stylesheet" href="/node_modules/uplot/dist/uPlot.min.css">
<script type="importmap">{"imports": {"uplot": "/node_modules/uplot/dist/uPlot.esm.js"}}</script>
</head><body><div id="host" style="width: 300px"></div></body></html>`;

/** Runs in the page: load the modules, set up the chart, and expose the steps. */
async function setUp({ samples, spans }) {
  const { TimelineSeries } = await import('/lib/model/timelineSeries.js');
  const { TimelineChart } = await import('/lib/views/timelineChart.js');
  const trans = { __: (text, ...args) => args.reduce((t, a, i) => t.replace(`%${i + 1}`, a), text) };
  const T0 = 1_700_000_000;
  const point = i => ({
    t: T0 + i,
    values: {
      rss: 2e9 + 1e9 * Math.sin(i / 3000) + (i % 7919 === 0 ? 4e9 : 0),
      limit: 12.7 * 2 ** 30,
      gpu0: 6e9 + 2e9 * Math.cos(i / 2000)
    }
  });
  const bench = (window.bench = { point, samples, next: samples });
  bench.build = () => {
    bench.series = new TimelineSeries();
    const started = performance.now();
    for (let i = 0; i < samples; i++) {
      bench.series.add(point(i));
    }
    // Cells: 2,000 spread over the day, 1 to 20 s each.
    const every = samples / spans;
    for (let k = 0; k < spans; k++) {
      const start = T0 + Math.floor(k * every);
      bench.series.addSpan({
        execution_count: k + 1,
        cell_id: `cell-${k}`,
        start,
        end: start + 1 + (k % 20)
      });
    }
    bench.feedMs = performance.now() - started;
  };
  bench.draw = async () => {
    bench.chart = new TimelineChart(trans, () => undefined);
    document.getElementById('host').appendChild(bench.chart.node);
    bench.chart.update(bench.series, null);
    while (!bench.chart.plot) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    bench.draws = 0;
    bench.chart.plot.hooks.draw = [...(bench.chart.plot.hooks.draw ?? []), () => bench.draws++];
    bench.chart.update(bench.series, null);
    await new Promise(resolve => requestAnimationFrame(resolve));
  };
  /** One new sample, the chart brought up to date, uPlot's (microtask) draw done. */
  bench.addOne = async () => {
    const draws = bench.draws;
    const started = performance.now();
    bench.series.add(point(bench.next++));
    bench.chart.update(bench.series, null);
    await Promise.resolve();
    const took = performance.now() - started;
    if (bench.draws !== draws + 1) {
      throw new Error(`expected one redraw per sample, saw ${bench.draws - draws}`);
    }
    return took;
  };
  /** For scale: the day kept as parsed sample messages, as a naive store would. */
  bench.keepAll = () => {
    bench.all = Array.from({ length: samples }, (_, i) => ({
      v: 1, type: 'sample', t: T0 + i, rss: point(i).values.rss, children_rss: 0,
      limit: 12.7 * 2 ** 30, limit_source: 'cgroup v2', used: 3e9 + i, free: 9e9 - i,
      host_total: 64 * 2 ** 30, host_available: 50 * 2 ** 30, notes: [],
      gpus: [{ index: 0, uuid: 'GPU-1', name: 'GPU', used: 6e9 + i, total: 16e9,
        process_used: 5e9 + i, torch_allocated: 4e9 + i, torch_reserved: 5e9, source: 'nvml' }],
      running_cell: null
    }));
  };
  bench.size = () => ({
    points: bench.series.size,
    bucketSeconds: bench.series.bucketSeconds,
    spans: bench.series.spans.length,
    canvas: bench.chart.node.querySelector('canvas') !== null,
    drawnSpans: Number(bench.chart.node.dataset.oomguardSpans)
  });
}

async function heapUsed(cdp) {
  for (let i = 0; i < 3; i++) {
    await cdp.send('HeapProfiler.collectGarbage');
  }
  return (await cdp.send('Runtime.getHeapUsage')).usedSize;
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function measure() {
  const envPath = process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH;
  const browser = await chromium.launch({
    executablePath: envPath === '' ? undefined : envPath ?? '/usr/bin/chromium',
    args: ['--enable-precise-memory-info']
  });
  try {
    const page = await browser.newPage({ deviceScaleFactor: 1 });
    await page.route(`${ORIGIN}/**`, async route => {
      const url = new URL(route.request().url());
      if (url.pathname === '/') {
        return route.fulfill({ body: PAGE, contentType: 'text/html' });
      }
      // tsc leaves extensionless relative imports ('../format'): add the .js.
      let file = path.join(ROOT, decodeURIComponent(url.pathname));
      if (!path.extname(file)) {
        file += '.js';
      }
      if (!file.startsWith(ROOT) || !existsSync(file)) {
        return route.fulfill({ status: 404, body: 'not found' });
      }
      const contentType = file.endsWith('.css') ? 'text/css' : 'text/javascript';
      return route.fulfill({ body: readFileSync(file), contentType });
    });
    page.on('pageerror', error => console.error('page error:', error));
    await page.goto(`${ORIGIN}/`);
    const cdp = await page.context().newCDPSession(page);
    await page.evaluate(setUp, { samples: SAMPLES, spans: SPANS });
    // Baseline: modules and uPlot loaded, no data yet.
    await page.evaluate(() => import('uplot'));
    const before = await heapUsed(cdp);
    await page.evaluate(() => window.bench.build());
    await page.evaluate(() => window.bench.draw());
    const after = await heapUsed(cdp);
    const feedMs = await page.evaluate(() => window.bench.feedMs);
    await page.evaluate(() => window.bench.keepAll());
    const naiveMb = ((await heapUsed(cdp)) - after) / 1e6;
    await page.evaluate(() => { window.bench.all = null; });

    // Warm up, then time additions one by one, each in its own task like a comm message.
    for (let i = 0; i < 20; i++) {
      await page.evaluate(() => window.bench.addOne());
    }
    const times = [];
    for (let i = 0; i < ADDITIONS; i++) {
      times.push(await page.evaluate(() => window.bench.addOne()));
    }
    const size = await page.evaluate(() => window.bench.size());
    const version = await browser.version();
    times.sort((a, b) => a - b);
    return {
      median: quantile(times, 0.5),
      p95: quantile(times, 0.95),
      max: times[times.length - 1],
      heapMb: (after - before) / 1e6,
      naiveMb,
      feedMs,
      size,
      version
    };
  } finally {
    await browser.close();
  }
}

function section(r) {
  const verdict = ok => (ok ? 'met' : '**missed**');
  const now = new Date().toISOString().slice(0, 16).replace('T', ' ');
  return [
    '## Timeline chart',
    '',
    `Measured ${now} UTC by \`benchmarks/chart/bench.mjs\` in headless Chromium ` +
      `${r.version} on ${os.arch()}, ${os.cpus().length} CPUs. The panel's timeline ` +
      `(\`TimelineSeries\` and the uPlot chart, 300 px wide) is fed ${SAMPLES.toLocaleString('en')} ` +
      `samples (24 h at 1 Hz: kernel RAM, the limit, one GPU) and ${SPANS.toLocaleString('en')} cell spans.`,
    '',
    '| measure | result | target | |',
    '| --- | --- | --- | --- |',
    `| add one sample and redraw (${ADDITIONS} additions) | median ${r.median.toFixed(2)} ms, ` +
      `p95 ${r.p95.toFixed(2)} ms, max ${r.max.toFixed(2)} ms | ≤ ${TARGET_MS} ms | ` +
      `${verdict(r.p95 <= TARGET_MS)} |`,
    `| JS heap held by the day's data and the chart | ${r.heapMb.toFixed(1)} MB ` +
      `| ≤ ${TARGET_MB} MB | ${verdict(r.heapMb <= TARGET_MB)} |`,
    `| … for scale: the same day kept as ${SAMPLES.toLocaleString('en')} parsed sample ` +
      `messages | ${r.naiveMb.toFixed(1)} MB | — | |`,
    `| points held after the day | ${r.size.points.toLocaleString('en')} ` +
      `(buckets of ${r.size.bucketSeconds} s for all but the last 20 min) | — | |`,
    `| feeding the whole day into the series | ${(r.feedMs / 1000).toFixed(2)} s ` +
      `(${((r.feedMs * 1000) / SAMPLES).toFixed(1)} µs a sample) | — | |`,
    '',
    '- *Add and redraw*: `performance.now()` around `series.add()`, `chart.update()` and ' +
      "uPlot's draw (a microtask), each addition in its own task as a comm message would " +
      'be; the script checks that each addition drew exactly once. Median and p95 over ' +
      `${ADDITIONS} additions after 20 warm-up ones.`,
    '- *Heap*: `Runtime.getHeapUsage` after three `HeapProfiler.collectGarbage`, with the ' +
      'modules and uPlot already loaded, before the series is made and after the day ' +
      "is fed and drawn. Older points are kept as min/max per time bucket, so the day's " +
      'highest and lowest readings are still drawn at their true height.',
    ''
  ].join('\n');
}

function writeDoc(text) {
  const block = `${START}\n${text}\n${END}`;
  const doc = existsSync(DOC) ? readFileSync(DOC, 'utf8') : '# Benchmarks\n';
  const at = doc.indexOf(START);
  const end = doc.indexOf(END);
  const next =
    at >= 0 && end > at
      ? doc.slice(0, at) + block + doc.slice(end + END.length)
      : `${doc.replace(/\n*$/, '')}\n\n${block}\n`;
  writeFileSync(DOC, next);
}

if (!print) {
  // The page loads lib/, so compile the TypeScript first (incremental: fast when fresh).
  execFileSync('npm', ['run', 'build:lib'], { cwd: ROOT, stdio: 'inherit' });
}
const results = await measure();
const text = section(results);
if (print) {
  process.stdout.write(`${START}\n${text}\n${END}\n`);
} else {
  writeDoc(text);
  console.log(text);
}
