/**
 * A Dask (or Ray) cluster's figures in the front end: the record's `cluster` read into
 * growth, sampled peak and stopped workers (model/clusters.ts), said as text
 * (views/clusterText.ts, cellFigures.ts), and shown by the badge, the Cluster section,
 * the Cells ranking, the warnings list and the timeline.
 */
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import {
  clusterGrowth,
  clusterPeakDelta,
  hasWorkerProblems,
  rayNode,
  workerProblems
} from '../model/clusters';
import { MemoryModel } from '../model/memoryModel';
import {
  CLUSTER,
  CLUSTER_LIMIT,
  pointFromSample,
  TimelineSeries
} from '../model/timelineSeries';
import { ICellRecord, ISampleMessage, IWorkerEvent } from '../protocol';
import { CellBadges } from '../views/cellBadges';
import { cellFigures } from '../views/cellFigures';
import { chartOptions, yTop } from '../views/chartOptions';
import { readPalette } from '../views/chartPalette';
import { ClusterSection } from '../views/clusterSection';
import { workerProblemText } from '../views/clusterText';
import { MemoryPanel } from '../views/memoryPanel';
import { warningEntries, WarningsSection } from '../views/warningsSection';
import {
  cellRecord,
  clusterRecord,
  fakeMemory,
  restartedWorker,
  sample,
  trans
} from './fixtures';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A Ray task killed by Ray's memory monitor, as ray_engine.py reports it. */
function rayKill(overrides: Record<string, unknown> = {}) {
  return {
    worker: 'ray worker 5a1f0c3e9b2d (pid 8123) on node 10.0.0.7',
    reason:
      "Ray's memory monitor killed it: the node's memory, 14.80 GiB used of 15.50 GiB, passed its kill threshold of 14.73 GiB (95%, RAY_memory_usage_threshold)",
    t: null,
    rss: 9 * GiB,
    limit: null,
    task: 'grow',
    node: '10.0.0.7',
    node_used: Math.round(14.8 * GiB),
    node_total: 15.5 * GiB,
    node_threshold: Math.round(14.73 * GiB),
    pid: 8123,
    ...overrides
  };
}

function parsedRecord(overrides: Record<string, unknown> = {}): ICellRecord {
  const model = new MemoryModel();
  model.handleMessage({ v: 1, type: 'cell', record: cellRecord(overrides) });
  return model.cells.last!;
}

describe('a cell record’s cluster', () => {
  it('comes to the growth and the sampled peak above the start, null where not measured', () => {
    const cluster = parsedRecord({ cluster: clusterRecord() }).cluster!;
    expect(clusterGrowth(cluster)).toBe(384 * MiB);
    expect(clusterPeakDelta(cluster)).toBe(390 * MiB);
    const blind = parsedRecord({
      cluster: clusterRecord({ before: null, after: null, peak: null })
    }).cluster!;
    expect(clusterGrowth(blind)).toBeNull();
    expect(clusterPeakDelta(blind)).toBeNull();
  });

  it('lists restarted workers, then lost ones, with a Ray node’s figures read field by field', () => {
    const record = parsedRecord({
      cluster: clusterRecord({
        engine: 'ray',
        restarted: [restartedWorker()],
        lost: [rayKill(), rayKill({ node_used: 'lots', node_total: -1, node: 7 })]
      })
    });
    expect(hasWorkerProblems(record)).toBe(true);
    const problems = workerProblems(record.cluster!);
    expect(problems.map(problem => problem.kind)).toEqual(['restarted', 'lost', 'lost']);
    expect(problems[0].node).toBeNull(); // Dask's events carry no node
    expect(problems[1].node).toEqual({
      node: '10.0.0.7',
      used: Math.round(14.8 * GiB),
      total: 15.5 * GiB,
      threshold: Math.round(14.73 * GiB)
    });
    // Each node field is read on its own: one that does not read is not measured.
    expect(problems[2].node).toEqual({
      node: null,
      used: null,
      total: null,
      threshold: Math.round(14.73 * GiB)
    });
    expect(hasWorkerProblems(parsedRecord({ cluster: clusterRecord() }))).toBe(false);
    expect(hasWorkerProblems(parsedRecord())).toBe(false);
  });
});

describe('a cluster said as text', () => {
  it('puts the cluster’s growth and sampled peak beside the kernel’s figures', () => {
    expect(cellFigures(parsedRecord({ cluster: clusterRecord() }), trans)).toEqual([
      'RAM +512 MiB',
      'peak +1.0 GiB',
      'dask cluster +384 MiB',
      'cluster peak +390 MiB (sampled)',
      '1.25 s'
    ]);
    const blind = parsedRecord({ cluster: clusterRecord({ before: null, peak: null }) });
    expect(cellFigures(blind, trans)).toContain('dask cluster not measured');
    // A cell without a cluster says nothing about one.
    expect(cellFigures(parsedRecord(), trans).join(' ')).not.toContain('cluster');
  });

  it('names each stopped worker: why, at what memory, running which task', () => {
    const say = (kind: 'restarted' | 'lost', event: Record<string, unknown>) =>
      workerProblemText(
        { kind, event: event as unknown as IWorkerEvent, node: rayNode(event as any) },
        trans
      );
    expect(say('restarted', restartedWorker())).toBe(
      'Worker restarted: tcp://127.0.0.1:40201; its nanny restarted it for exceeding the memory limit (distributed.worker.memory.terminate); at 980 MiB of its 1.0 GiB limit; running task hog-4f1c.'
    );
    expect(
      say('lost', {
        worker: 'tcp://127.0.0.1:40202',
        reason: 'its connection to the scheduler closed',
        t: null,
        rss: null,
        limit: null,
        task: null,
        idle: true
      })
    ).toBe(
      'Worker lost: tcp://127.0.0.1:40202; before this cell, while the kernel was idle; its connection to the scheduler closed.'
    );
    expect(say('lost', rayKill())).toBe(
      "Worker lost: ray worker 5a1f0c3e9b2d (pid 8123) on node 10.0.0.7; Ray's memory monitor killed it: the node's memory, 14.80 GiB used of 15.50 GiB, passed its kill threshold of 14.73 GiB (95%, RAY_memory_usage_threshold); at 9.0 GiB; running task grow; node 10.0.0.7: 14.8 GiB used of 15.5 GiB, kill threshold 14.7 GiB."
    );
  });
});

describe('CellBadges with a cluster', () => {
  function badgedCell(record: Record<string, unknown>) {
    const cellsChanged = new Signal<object, void>({});
    const cell = { model: { id: 'a' }, node: document.createElement('div') };
    const panel = { content: { widgets: [cell], model: { cells: { changed: cellsChanged } } } };
    const model = new MemoryModel();
    new CellBadges(panel as any, model, trans);
    model.handleMessage(sample());
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'a', ...record }) });
    const badge = () => cell.node.querySelector<HTMLElement>('.jp-oomguard-badge')!;
    return { badge, cellsChanged, model };
  }

  it('shows the cluster’s growth beside the kernel’s, its notes in the tooltip', () => {
    const { badge } = badgedCell({ cluster: clusterRecord() });
    expect(badge().textContent).toBe(
      'RAM +512 MiB · peak +1.0 GiB · dask cluster +384 MiB · cluster peak +390 MiB (sampled) · 1.25 s'
    );
    expect(badge().dataset.problem).toBeUndefined();
    expect(badge().title.split('\n').slice(1)).toEqual([
      "dask cluster at tcp://127.0.0.1:40111, 2 workers: 210 MiB → 594 MiB, sampled peak 600 MiB of the workers' 2.0 GiB",
      'sampled every 0.5 s through the scheduler; the last sample was 0.3 s old'
    ]);
  });

  it('says why the cluster was not measured, on a line of its own', () => {
    const { badge } = badgedCell({
      cluster: clusterRecord({
        before: null,
        after: null,
        peak: null,
        notes: ['not measured: the scheduler did not answer in 2 s']
      })
    });
    const lines = [...badge().children].map(line => [line.className, line.textContent]);
    expect(lines).toEqual([
      ['jp-oomguard-badge-figures', 'RAM +512 MiB · peak +1.0 GiB · dask cluster not measured · 1.25 s'],
      ['jp-oomguard-badge-line', 'Cluster not measured: not measured: the scheduler did not answer in 2 s']
    ]);
    expect(badge().dataset.problem).toBeUndefined();
  });

  it('says a restarted worker prominently, as a problem, and the kernel’s strings as text', async () => {
    const { badge, cellsChanged } = badgedCell({
      status: 'error',
      cluster: clusterRecord({
        restarted: [restartedWorker({ task: '<img src=x onerror="window.__pwned=1">' })]
      })
    });
    expect(badge().dataset.problem).toBe('true');
    const problem = badge().querySelector('.jp-oomguard-badge-problem')!;
    expect(problem.textContent).toBe(
      'Worker restarted: tcp://127.0.0.1:40201; its nanny restarted it for exceeding the memory limit (distributed.worker.memory.terminate); at 980 MiB of its 1.0 GiB limit; running task <img src=x onerror="window.__pwned=1">.'
    );
    expect(badge().querySelector('img')).toBeNull();
    // Drawn again (the notebook's cells changed) with nothing new: the same nodes, so
    // the live region does not read it out again.
    cellsChanged.emit();
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(badge().querySelector('.jp-oomguard-badge-problem')).toBe(problem);
  });

  it('goes back to plain figures when the cell runs again without a cluster', () => {
    const { badge, model } = badgedCell({ cluster: clusterRecord({ restarted: [restartedWorker()] }) });
    model.handleMessage({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'a', start: 2 }) });
    expect(badge().children).toHaveLength(0);
    expect(badge().textContent).toBe('RAM +512 MiB · peak +1.0 GiB · 1.25 s');
    expect(badge().dataset.problem).toBeUndefined();
  });
});

describe('ClusterSection', () => {
  function shownSection(samples: Record<string, unknown>[]) {
    const model = new MemoryModel();
    const section = new ClusterSection(trans);
    section.memory = fakeMemory(model).memory;
    samples.forEach(one => model.handleMessage(sample(one)));
    const text = (selector: string) => section.node.querySelector(selector)?.textContent;
    return { section, model, text };
  }

  it('is hidden while samples carry no cluster', () => {
    const { section } = shownSection([{}]);
    expect(section.node.hidden).toBe(true);
  });

  it('shows the workers’ memory against their limits, and how many workers', () => {
    const { section, text } = shownSection([
      { cluster: { engine: 'dask', memory: 594 * MiB, limit: 2 * GiB, workers: 2 } }
    ]);
    expect(section.node.hidden).toBe(false);
    expect(text('.jp-oomguard-cluster-summary')).toBe('dask cluster · 2 workers');
    expect(text('.jp-oomguard-cluster-memory')).toBe('594 MiB');
    expect(text('.jp-oomguard-limit')).toBe("29% of the workers' 2.0 GiB limit");
    const meter = section.node.querySelector('[role="meter"]')!;
    expect(meter.getAttribute('aria-label')).toBe("Cluster memory, share of the workers' limits");
    expect(meter.getAttribute('aria-valuenow')).toBe('29');
  });

  it('says when the cluster does not answer, or its limits are not known', () => {
    const { text, model, section } = shownSection([
      { cluster: { engine: 'dask', memory: null, limit: null, workers: null } }
    ]);
    expect(text('.jp-oomguard-cluster-summary')).toBe('dask cluster');
    expect(text('.jp-oomguard-cluster-memory')).toBe('—');
    expect(text('.jp-oomguard-limit')).toBe('Not measured: the cluster does not answer.');
    expect(section.node.querySelector('[role="meter"]')).toBeNull();
    model.handleMessage(
      sample({ t: 1_700_000_002, cluster: { engine: 'dask', memory: GiB, limit: null, workers: 1 } })
    );
    expect(text('.jp-oomguard-cluster-summary')).toBe('dask cluster · 1 worker');
    expect(text('.jp-oomguard-limit')).toBe("The workers' limits are not known.");
  });
});

describe('The Cells ranking by the cluster’s peak', () => {
  const cells = [
    { id: 'prep', source: 'df = dd.read_parquet(path)' },
    { id: 'persist', source: 'x = x.persist()' },
    { id: 'local', source: 'y = np.ones(10**8)' }
  ];
  function rankedPanel() {
    const model = new MemoryModel();
    const panel = new MemoryPanel(trans, () => undefined);
    Widget.attach(panel, document.body);
    panel.memory = fakeMemory(model, { cells }).memory;
    const run = (id: string, count: number, peak: number, cluster?: Record<string, unknown>) =>
      model.handleMessage({
        v: 1,
        type: 'cell',
        record: cellRecord({
          cell_id: id,
          execution_count: count,
          start: 1_700_000_000 + count,
          ram_peak_delta: peak * MiB,
          ...(cluster ? { cluster } : {})
        })
      });
    const places = () =>
      [...panel.node.querySelectorAll<HTMLElement>('.jp-oomguard-cell')].map(row => row.dataset.cellId);
    const head = () =>
      panel.node.querySelector<HTMLElement>('.jp-oomguard-cells th[data-column="cluster"]')!;
    return { panel, run, places, head };
  }

  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('shows the cluster column only once a cell ran with a cluster', () => {
    const { panel, run, head } = rankedPanel();
    const nameSpans = () =>
      [...panel.node.querySelectorAll<HTMLTableCellElement>('.jp-oomguard-cell-what')].map(
        cell => cell.colSpan
      );
    run('local', 1, 800);
    expect(head().hidden).toBe(true);
    expect(panel.node.querySelector('.jp-oomguard-cell-cluster')).toBeNull();
    expect(nameSpans()).toEqual([1]);
    run('persist', 2, 5, clusterRecord());
    expect(head().hidden).toBe(false);
    // Four columns do not leave a narrow sidebar room for the names: each gets a row
    // of its own, its figures under their headings below.
    expect(nameSpans()).toEqual([4, 4]);
    expect(panel.node.querySelectorAll('.jp-oomguard-cell-figures')).toHaveLength(2);
    const column = [...panel.node.querySelectorAll('.jp-oomguard-cell-cluster')].map(
      cell => cell.textContent
    );
    expect(column).toEqual(['', '+390 MiB']); // ranked by the kernel's peak: local first
    panel.dispose();
  });

  it('ranks by the cluster’s sampled peak, cells without one last', () => {
    const { panel, run, places, head } = rankedPanel();
    run('local', 1, 800);
    run('persist', 2, 5, clusterRecord());
    run('prep', 3, 20, clusterRecord({ peak: 1200 * MiB }));
    const sort = head().querySelector<HTMLButtonElement>('button')!;
    expect(sort.textContent).toBe('Cluster');
    sort.click();
    expect(places()).toEqual(['prep', 'persist', 'local']);
    expect(head().getAttribute('aria-sort')).toBe('descending');
    sort.click();
    expect(places()).toEqual(['local', 'persist', 'prep']);
    panel.dispose();
  });
});

describe('Warnings about a cluster’s workers', () => {
  function stoppedModel() {
    const model = new MemoryModel();
    const run = (count: number, cluster: Record<string, unknown>) =>
      model.handleMessage({
        v: 1,
        type: 'cell',
        record: cellRecord({ cell_id: `c${count}`, execution_count: count, start: count, cluster })
      });
    run(1, clusterRecord({ restarted: [restartedWorker()] }));
    run(2, clusterRecord()); // nothing stopped: no entry
    run(3, clusterRecord({ engine: 'ray', lost: [rayKill()] }));
    return model;
  }

  it('lists each cell whose workers were restarted or lost, newest first', () => {
    const entries = warningEntries(stoppedModel(), trans).filter(entry => entry.kind === 'workers');
    expect(entries.map(entry => [entry.cell_id, entry.title])).toEqual([
      ['c3', 'ray cluster lost a worker in cell [3]'],
      ['c1', 'dask cluster restarted a worker for memory in cell [1]']
    ]);
    expect(entries[1].detail).toMatch(/^Worker restarted: tcp:\/\/127\.0\.0\.1:40201; its nanny/);
    expect(entries[0].detail).toContain('node 10.0.0.7: 14.8 GiB used of 15.5 GiB, kill threshold 14.7 GiB');
  });

  it('comes as a button to its cell as soon as the record does', () => {
    const model = new MemoryModel();
    const revealed: unknown[] = [];
    const section = new WarningsSection(trans, cell => revealed.push(cell));
    section.memory = fakeMemory(model).memory;
    expect(section.node.hidden).toBe(true);
    model.handleMessage({
      v: 1,
      type: 'cell',
      record: cellRecord({ cluster: clusterRecord({ restarted: [restartedWorker()] }) })
    });
    expect(section.node.hidden).toBe(false);
    const entry = section.node.querySelector<HTMLElement>('[data-kind="workers"]')!;
    const button = entry.querySelector('button')!;
    expect(button.textContent).toContain('dask cluster restarted a worker for memory in cell [3]');
    button.click();
    expect(revealed).toEqual([{ execution_count: 3, cell_id: 'abc-123' }]);
  });
});

describe('The cluster on the timeline', () => {
  const withCluster = (t: number, memory: number | null, limit: number | null = 2 * GiB) =>
    ({ ...sample({ t }), cluster: { engine: 'dask', memory, limit, workers: 2 } }) as ISampleMessage;

  it('draws the workers’ memory and limit where samples carry them, a gap where not', () => {
    expect(pointFromSample(withCluster(1, 600 * MiB)).values).toMatchObject({
      [CLUSTER]: 600 * MiB,
      [CLUSTER_LIMIT]: 2 * GiB
    });
    expect(CLUSTER in pointFromSample(sample() as ISampleMessage).values).toBe(false);
    const timeline = new TimelineSeries();
    [
      sample({ t: 1 }) as ISampleMessage, // before the Client: no line yet
      withCluster(2, 600 * MiB),
      withCluster(3, null), // the scheduler did not answer
      withCluster(4, 700 * MiB)
    ].forEach(one => timeline.add(pointFromSample(one)));
    const { keys, data } = timeline.data();
    expect(data[1 + keys.indexOf(CLUSTER)]).toEqual([null, 600 * MiB, null, 700 * MiB]);
    expect(data[1 + keys.indexOf(CLUSTER_LIMIT)]).toEqual([null, 2 * GiB, 2 * GiB, 2 * GiB]);
  });

  it('gives the cluster its own colour and legend entries, its limit dashed', () => {
    const palette = readPalette(null);
    const options = chartOptions(['rss', 'limit', CLUSTER, CLUSTER_LIMIT], 300, trans, () => palette, {});
    const [, rss, , cluster, limit] = options.series;
    expect(cluster.label).toBe('Cluster memory');
    expect(limit.label).toBe('Cluster limit');
    const stroke = (series: typeof rss) => (series.stroke as () => string)();
    expect(stroke(cluster)).toBe(palette.cluster);
    expect(stroke(limit)).toBe(palette.cluster);
    expect(stroke(cluster)).not.toBe(stroke(rss));
    expect(limit.dash).toBeDefined();
    // Memory drawn solid, limits dashed (the kernel's longer than the cluster's).
    expect(rss.dash).toBeUndefined();
    expect(cluster.dash).toBeUndefined();
    expect(options.series[2].dash).toEqual([4, 4]);
    expect(limit.dash).not.toEqual([4, 4]);
  });

  it('keeps the cluster’s limit off the axis until its memory comes near it', () => {
    // Columns: time, kernel RAM, kernel limit, cluster memory, cluster limit.
    const far = {
      data: [[0, 1], [0.3 * GiB, 0.3 * GiB], [24 * GiB, 24 * GiB], [0.6 * GiB, 0.6 * GiB], [8 * GiB, 8 * GiB]]
    } as any;
    expect(yTop(far, [2, 4])).toBeCloseTo(0.66 * GiB);
    const near = {
      data: [[0, 1], [0.3 * GiB, 0.3 * GiB], [24 * GiB, 24 * GiB], [1.8 * GiB, 1.9 * GiB], [2 * GiB, 2 * GiB]]
    } as any;
    expect(yTop(near, [2, 4])).toBeCloseTo(2.2 * GiB);
  });
});
