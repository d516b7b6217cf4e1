import { TranslationBundle } from '@jupyterlab/translation';
import { formatBytes } from '../format';
import type { IPostMortem } from '../model/memoryModel';
import { cellName } from './findCell';

/**
 * "The kernel died while cell 3 of 12 ("x = torch.ones(…") ran, with the session at
 * 12.4 GiB of its 12.7 GiB limit (this kernel: 11.9 GiB): out of memory likely." The
 * session's figure is what counts against the limit (the container's or machine's
 * use), the kernel's is its own memory: both, each called what it is. Once the next
 * kernel confirmed an OOM kill, the memory cgroup's own high-water mark comes first,
 * with the file it was read from. Whole sentences per case, so translations need not
 * stitch pieces. `cell` names the cell as the user finds it (views/findCell.ts:
 * cellName); without it, its execution count, which its prompt no longer shows once
 * the kernel restarted.
 */
export function deathMessage(
  postMortem: IPostMortem | null,
  trans: TranslationBundle,
  cell?: string
): string {
  if (!postMortem) {
    return trans.__('The kernel died.');
  }
  cell = cell ?? cellName(null, postMortem, trans);
  const { rss, used, limit, outOfMemoryLikely: likely } = postMortem;
  const kernel = formatBytes(rss);
  const session = formatBytes(used);
  const of = formatBytes(limit);
  const peak = postMortem.cgroupPeak;
  if (peak) {
    // After an OOM kill the count confirmed, the group's own high-water mark: the last
    // sample, up to an interval older, may have missed what killed it.
    return trans.__(
      "The kernel died while %1 ran, after the session reached %2 of its %3 limit (the memory cgroup's high-water mark, %4, page cache included). The last reading before: %5 (this kernel: %6).",
      cell,
      formatBytes(peak.bytes),
      of,
      counterName(peak.file),
      session,
      kernel
    );
  }
  if (used !== null && limit !== null && rss !== null) {
    return likely
      ? trans.__(
          'The kernel died while %1 ran, with the session at %2 of its %3 limit (this kernel: %4): out of memory likely.',
          cell,
          session,
          of,
          kernel
        )
      : trans.__(
          'The kernel died while %1 ran, with the session at %2 of its %3 limit (this kernel: %4).',
          cell,
          session,
          of,
          kernel
        );
  }
  if (used !== null && limit !== null) {
    return likely
      ? trans.__(
          'The kernel died while %1 ran, with the session at %2 of its %3 limit: out of memory likely.',
          cell,
          session,
          of
        )
      : trans.__(
          'The kernel died while %1 ran, with the session at %2 of its %3 limit.',
          cell,
          session,
          of
        );
  }
  if (rss !== null && limit !== null) {
    return likely
      ? trans.__(
          "The kernel died while %1 ran, with this kernel at %2 of a %3 session limit (the session's own use was not measured): out of memory likely.",
          cell,
          kernel,
          of
        )
      : trans.__(
          "The kernel died while %1 ran, with this kernel at %2 of a %3 session limit (the session's own use was not measured).",
          cell,
          kernel,
          of
        );
  }
  return rss !== null
    ? trans.__('The kernel died while %1 ran, with this kernel at %2.', cell, kernel)
    : trans.__('The kernel died while %1 ran.', cell);
}

/** "memory.events" from "/sys/fs/cgroup/…/memory.events": the file the kernel counts in. */
function counterName(file: string | null): string {
  return file ? file.slice(file.lastIndexOf('/') + 1) : 'the cgroup';
}

/**
 * What was learnt about a death after the restart, as sentences: whether the OOM killer
 * did it (the cgroup's own count), and what the dead kernel's spool added.
 */
export function postMortemDetails(
  postMortem: IPostMortem,
  trans: TranslationBundle
): string[] {
  return [oomKillSentence(postMortem, trans), backfillSentence(postMortem, trans)].filter(
    (line): line is string => line !== null
  );
}

export function oomKillSentence(
  postMortem: IPostMortem,
  trans: TranslationBundle
): string | null {
  if (postMortem.pid === null) {
    return null; // the dead kernel's oomguard never said hello: nothing to compare
  }
  const check = postMortem.oomKill;
  const file = counterName(check.file);
  switch (check.state) {
    case 'confirmed':
      return trans.__(
        "The OOM killer ended a process in this kernel's memory cgroup (which may hold other kernels too) — confirmed by %1.",
        file
      );
    case 'not-confirmed':
      return trans.__(
        'Out of memory not confirmed: the OOM-kill count in %1 did not rise (%2).',
        file,
        String(check.before)
      );
    case 'pending':
      return trans.__(
        'Whether the OOM killer did it is checked in %1 when the kernel is back.',
        file
      );
    default:
      return check.reason === 'other-cgroup'
        ? trans.__(
            'Out of memory unknown: the new kernel runs in another memory cgroup, so the OOM-kill counts cannot be compared.'
          )
        : trans.__(
            "Out of memory unknown: no OOM-kill counter for the kernel's memory cgroup is readable here."
          );
  }
}

export function backfillSentence(
  postMortem: IPostMortem,
  trans: TranslationBundle
): string | null {
  const backfill = postMortem.backfill;
  switch (backfill.state) {
    case 'due':
    case 'requested':
      return trans.__("Fetching the readings the browser missed from the kernel's spool…");
    case 'done': {
      if (backfill.samples === 0) {
        return trans.__("The kernel's spool had no reading the browser missed.");
      }
      // Whole sentences, so that translations need not stitch pieces together.
      const count = String(backfill.samples);
      if (postMortem.readingFrom === 'spool') {
        return backfill.truncated
          ? trans.__(
              "Readings the browser missed, recovered from the kernel's spool: %1 (thinned); the figures above are its last reading.",
              count
            )
          : trans.__(
              "Readings the browser missed, recovered from the kernel's spool: %1; the figures above are its last reading.",
              count
            );
      }
      return backfill.truncated
        ? trans.__(
            "Readings the browser missed, recovered from the kernel's spool: %1 (thinned).",
            count
          )
        : trans.__("Readings the browser missed, recovered from the kernel's spool: %1.", count);
    }
    case 'failed':
      return trans.__('The missed readings could not be recovered: %1', backfill.note ?? '');
    default:
      return null; // waiting for the kernel to be back, or nothing to ask for
  }
}
