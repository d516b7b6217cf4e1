import type { ICellRecord, IClusterCellRecord, IWorkerEvent } from '../protocol';

/**
 * What a cell's `cluster` (docs/protocol.md, CellRecord `cluster`) comes to: the
 * workers' growth over the cell, their sampled peak above the start, and the workers
 * that were restarted or lost. Pure: the badge, the Cells ranking and the warnings list
 * read a cluster through these, so each figure is worked out once.
 */

/** The workers' memory at the cell's end less at its start; null: not measured. */
export function clusterGrowth(cluster: IClusterCellRecord): number | null {
  return difference(cluster.after, cluster.before);
}

/** The workers' sampled peak above the start; null: not measured. */
export function clusterPeakDelta(cluster: IClusterCellRecord): number | null {
  return difference(cluster.peak, cluster.before);
}

/** Whether any of the cluster's figures over the cell was measured at all. */
export function clusterMeasured(cluster: IClusterCellRecord): boolean {
  return clusterGrowth(cluster) !== null || clusterPeakDelta(cluster) !== null;
}

/** The node a Ray task was killed on, as Ray's memory monitor told it (bytes). */
export interface IRayNode {
  node: string | null;
  used: number | null;
  total: number | null;
  threshold: number | null;
}

/** A worker restarted for memory or lost, with the Ray node's memory where Ray said it. */
export interface IWorkerProblem {
  kind: 'restarted' | 'lost';
  event: IWorkerEvent;
  node: IRayNode | null;
}

/** The cell's restarted workers, then its lost ones, as the record lists them. */
export function workerProblems(cluster: IClusterCellRecord): IWorkerProblem[] {
  const problems = (kind: IWorkerProblem['kind'], events: readonly IWorkerEvent[]) =>
    events.map(event => ({ kind, event, node: rayNode(event) }));
  return [...problems('restarted', cluster.restarted), ...problems('lost', cluster.lost)];
}

/** Whether a record's cluster lost or restarted a worker during the cell. */
export function hasWorkerProblems(record: ICellRecord): boolean {
  const cluster = record.cluster;
  return !!cluster && cluster.restarted.length + cluster.lost.length > 0;
}

/**
 * The node figures of a Ray event (`node`, `node_used`, `node_total`,
 * `node_threshold`, each read on its own by the protocol: one that did not read is
 * null, not measured). Null for events without any (Dask's).
 */
export function rayNode(event: IWorkerEvent): IRayNode | null {
  const { node, node_used, node_total, node_threshold } = event;
  if ([node, node_used, node_total, node_threshold].every(value => value === undefined)) {
    return null;
  }
  return {
    node: node || null,
    used: node_used ?? null,
    total: node_total ?? null,
    threshold: node_threshold ?? null
  };
}

function difference(value: number | null, start: number | null): number | null {
  return value === null || start === null ? null : value - start;
}
