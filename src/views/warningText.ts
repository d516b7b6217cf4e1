import { TranslationBundle } from '@jupyterlab/translation';
import { formatBytes } from '../format';
import { IFinding, IWarningMessage, warningSetting } from '../protocol';

/** The line that turns the hard cap on (docs/guard.md). */
export const CAP_LINE = 'oomguard.enable(hard_cap=True)';

/** The banner's first line: what happened to the cell, and in auto mode why. */
export function warningTitle(warning: IWarningMessage, trans: TranslationBundle): string {
  const auto = warningSetting(warning) === 'auto';
  if (warning.mode === 'block') {
    return auto
      ? trans.__(
          'oomguard stopped this cell before it ran: its exact size cannot fit in what the session can have (its limit less the memory in use), so it would get the kernel killed.'
        )
      : trans.__('oomguard stopped this cell before it ran: it would not fit in memory.');
  }
  return auto
    ? trans.__(
        'oomguard: this cell may not fit in memory. It runs: oomguard stops a cell only when its exact size cannot fit.'
      )
    : trans.__('oomguard: this cell may not fit in memory.');
}

/** The warnings list's title for it, `cell` named as the notebook shows it. */
export function warningListTitle(
  warning: IWarningMessage,
  cell: string,
  trans: TranslationBundle
): string {
  if (warningSetting(warning) === 'auto') {
    return warning.mode === 'block'
      ? trans.__('Blocked before it ran, its exact size cannot fit: %1', cell)
      : trans.__('Predicted not to fit, and ran: %1', cell);
  }
  return warning.mode === 'block'
    ? trans.__('Blocked before it ran: %1', cell)
    : trans.__('Predicted not to fit: %1', cell);
}

/**
 * "Line 3: 40.2 GiB predicted on cpu (exact size), 12.0 GiB free." In auto mode each
 * size says whether it is exact or an estimate (that is what decided); a finding that
 * fits once page cache is reclaimed says so instead.
 */
export function findingFigures(
  finding: IFinding,
  warning: IWarningMessage,
  trans: TranslationBundle
): string {
  const free = warning.free?.[finding.device] ?? null;
  const size = formatBytes(finding.peak_bytes);
  if (!finding.risky && warning.page_cache) {
    return trans.__(
      "Line %1: %2 predicted on %3; it fits in the %4 free only once the kernel reclaims page cache (%5 of it counts in the limit's use), which can slow the cell.",
      finding.line,
      size,
      finding.device,
      formatBytes(free),
      formatBytes(warning.page_cache)
    );
  }
  if (warningSetting(warning) !== 'auto') {
    return trans.__(
      'Line %1: %2 predicted on %3, %4 free.',
      finding.line,
      size,
      finding.device,
      formatBytes(free)
    );
  }
  return finding.exact === true
    ? trans.__(
        'Line %1: %2 predicted on %3 (exact size), %4 free.',
        finding.line,
        size,
        finding.device,
        formatBytes(free)
      )
    : trans.__(
        'Line %1: %2 predicted on %3 (an estimate), %4 free.',
        finding.line,
        size,
        finding.device,
        formatBytes(free)
      );
}

/**
 * Where one call is bigger than what is free and the hard cap is off: only the cap,
 * or not running the cell, can stop it (the watchdog's interrupt lands after the call
 * returns). Null where that is not the case. `CAP_LINE` follows it, to copy.
 */
export function singleCallText(
  warning: IWarningMessage,
  trans: TranslationBundle
): string | null {
  if (!warning.single_call) {
    return null;
  }
  return warning.mode === 'block'
    ? trans.__(
        'If you run it anyway, nothing but the hard cap can stop it: it is one call bigger than what is free, and the watchdog can only interrupt it after it returns, when the kernel may already be killed. With the cap, the call fails with a MemoryError instead. Turn it on with:'
      )
    : trans.__(
        'Nothing but the hard cap (or not running the cell) can stop it: it is one call bigger than what is free, and the watchdog can only interrupt it after it returns, when the kernel may already be killed. With the cap, the call fails with a MemoryError instead. Turn it on with:'
      );
}
