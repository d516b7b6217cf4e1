import { TranslationBundle } from '@jupyterlab/translation';
import { formatBytes } from '../format';
import { clusterGrowth, clusterMeasured, clusterPeakDelta } from '../model/clusters';
import { ICellRecord, IClusterCellRecord } from '../protocol';

/** "+512 MiB", "-3.0 MiB"; a dash when not measured. */
export function signedBytes(bytes: number | null): string {
  if (bytes === null) {
    return '—';
  }
  return bytes >= 0 ? `+${formatBytes(bytes)}` : formatBytes(bytes);
}

/**
 * What a cell cost, as short phrases: RAM change, peak above the start, VRAM change
 * per GPU, the cluster's (where a cluster was in the namespace), duration, and the
 * status when it is not "ok". The panel's cell list and the cell badges say the same
 * thing the same way.
 */
export function cellFigures(record: ICellRecord, trans: TranslationBundle): string[] {
  const parts = [
    trans.__('RAM %1', signedBytes(record.ram_delta)),
    trans.__(
      'peak %1%2',
      signedBytes(record.ram_peak_delta),
      record.peak_method === 'hwm' ? '' : trans.__(' (sampled)')
    )
  ];
  for (const gpu of record.gpu) {
    if (gpu.before !== null && gpu.after !== null) {
      parts.push(trans.__('cuda:%1 %2', gpu.index, signedBytes(gpu.after - gpu.before)));
    }
  }
  if (record.cluster) {
    parts.push(...clusterPhrases(record.cluster, trans));
  }
  parts.push(formatDuration(record.duration));
  if (record.status !== 'ok') {
    parts.push(record.status);
  }
  return parts;
}

/**
 * "dask cluster +384 MiB", "cluster peak +390 MiB (sampled)": the workers' memory over
 * the cell, always sampled; "dask cluster not measured" where no figure was (the
 * badge says why on a line of its own: clusterText.ts, clusterLines).
 */
export function clusterPhrases(cluster: IClusterCellRecord, trans: TranslationBundle): string[] {
  if (!clusterMeasured(cluster)) {
    return [trans.__('%1 cluster not measured', cluster.engine)];
  }
  return [
    trans.__('%1 cluster %2', cluster.engine, signedBytes(clusterGrowth(cluster))),
    trans.__('cluster peak %1 (sampled)', signedBytes(clusterPeakDelta(cluster)))
  ];
}

/** "1.25 s", "42 s": a cell's run time. */
export function formatDuration(seconds: number): string {
  return `${seconds.toFixed(seconds < 10 ? 2 : 0)} s`;
}
