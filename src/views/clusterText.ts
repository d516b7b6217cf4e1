import type { TranslationBundle } from '@jupyterlab/translation';
import { formatBytes } from '../format';
import { clusterMeasured, IWorkerProblem, workerProblems } from '../model/clusters';
import type { ICellRecord, IClusterCellRecord } from '../protocol';
import type { IWarningEntry, NameCell } from './warningsSection';

/**
 * A cluster's figures over a cell as text: the badge's lines about workers restarted
 * or lost, its tooltip, and the warnings list's entries (the short phrases beside the
 * kernel's figures are cellFigures.ts's). Every
 * string the kernel sent (addresses, reasons, tasks, notes) goes in as text.
 */

/** A line under a cell's figures; `problem` lines are about a worker that was stopped. */
export interface IBadgeLine {
  text: string;
  problem: boolean;
}

/**
 * The lines under a cell's figures: why the cluster was not measured (its notes),
 * then each worker restarted or lost, said as a problem.
 */
export function clusterLines(cluster: IClusterCellRecord, trans: TranslationBundle): IBadgeLine[] {
  const lines: IBadgeLine[] = [];
  if (!clusterMeasured(cluster)) {
    lines.push({
      text: cluster.notes.length
        ? trans.__('Cluster not measured: %1', cluster.notes.join(' '))
        : trans.__('Cluster not measured.'),
      problem: false
    });
  }
  for (const problem of workerProblems(cluster)) {
    lines.push({ text: workerProblemText(problem, trans), problem: true });
  }
  return lines;
}

/**
 * "Worker restarted: tcp://127.0.0.1:4000 (its nanny restarted it for exceeding the
 * memory limit), at 980 MiB of its 1.0 GiB limit, running task hog-1." For Ray, the
 * node's memory when its monitor killed the task.
 */
export function workerProblemText(problem: IWorkerProblem, trans: TranslationBundle): string {
  const { event, node } = problem;
  const parts = [
    problem.kind === 'restarted'
      ? trans.__('Worker restarted: %1', event.worker)
      : trans.__('Worker lost: %1', event.worker)
  ];
  if (event.idle) {
    parts.push(trans.__('before this cell, while the kernel was idle'));
  }
  if (event.reason) {
    parts.push(event.reason);
  }
  if (event.rss !== null) {
    parts.push(
      event.limit !== null
        ? trans.__('at %1 of its %2 limit', formatBytes(event.rss), formatBytes(event.limit))
        : trans.__('at %1', formatBytes(event.rss))
    );
  }
  if (event.task !== null) {
    parts.push(trans.__('running task %1', event.task));
  }
  if (node && (node.used !== null || node.total !== null)) {
    const figures =
      node.threshold !== null
        ? trans.__(
            '%1 used of %2, kill threshold %3',
            formatBytes(node.used),
            formatBytes(node.total),
            formatBytes(node.threshold)
          )
        : trans.__('%1 used of %2', formatBytes(node.used), formatBytes(node.total));
    parts.push(
      node.node !== null
        ? trans.__('node %1: %2', node.node, figures)
        : trans.__('node: %1', figures)
    );
  }
  return `${parts.join('; ')}.`;
}

/**
 * The cluster's part of a badge's tooltip: "dask cluster at tcp://…, 2 workers: 210 MiB
 * → 594 MiB, sampled peak 600 MiB of the workers' 2.0 GiB", then its notes.
 */
export function clusterTitle(cluster: IClusterCellRecord, trans: TranslationBundle): string {
  const where = cluster.scheduler
    ? trans.__('%1 cluster at %2', cluster.engine, cluster.scheduler)
    : trans.__('%1 cluster', cluster.engine);
  const lines = [
    clusterMeasured(cluster)
      ? trans.__(
          '%1, %2 workers: %3 → %4, sampled peak %5 of the workers\' %6',
          where,
          cluster.workers ?? '?',
          formatBytes(cluster.before),
          formatBytes(cluster.after),
          formatBytes(cluster.peak),
          formatBytes(cluster.limit)
        )
      : trans.__('%1: not measured', where),
    ...cluster.notes
  ];
  return lines.join('\n');
}

/**
 * An entry of the warnings list for each run whose cluster restarted or lost workers,
 * newest last (as the records come): which workers, why, at what memory.
 */
export function workerWarnings(
  records: readonly ICellRecord[],
  trans: TranslationBundle,
  name: NameCell
): IWarningEntry[] {
  const entries: IWarningEntry[] = [];
  for (const record of records) {
    const cluster = record.cluster;
    if (!cluster) {
      continue;
    }
    const problems = workerProblems(cluster);
    if (!problems.length) {
      continue;
    }
    const restarted = problems.some(problem => problem.kind === 'restarted');
    entries.push({
      kind: 'workers',
      execution_count: record.execution_count,
      cell_id: record.cell_id,
      title: restarted
        ? trans._n(
            '%2 cluster restarted a worker for memory in %3',
            '%2 cluster restarted %1 workers for memory in %3',
            cluster.restarted.length,
            cluster.engine,
            name(record)
          )
        : trans._n(
            '%2 cluster lost a worker in %3',
            '%2 cluster lost %1 workers in %3',
            cluster.lost.length,
            cluster.engine,
            name(record)
          ),
      detail: problems.map(problem => workerProblemText(problem, trans)).join(' ')
    });
  }
  return entries;
}
