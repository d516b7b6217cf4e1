import { Signal } from '@lumino/signaling';
import { ISpoolMessage, parseKernelMessage, PROTOCOL_VERSION } from '../protocol';
import { CellPredictions } from './cellPredictions';
import { CellsModel, ICellReference } from './cellsModel';
import { spooledSamples } from './postMortem';
import { IPostMortem, PostMortemModel } from './postMortemModel';
import { ConnectionState, ReadingsModel } from './readingsModel';
import { VariablesModel } from './variablesModel';
import { WarningsModel } from './warningsModel';

export type { ICellReference } from './cellsModel';
export type { IPostMortem } from './postMortemModel';
export type { ConnectionState, IConnectionStatus, IThresholds } from './readingsModel';
export { DEFAULT_THRESHOLDS } from './readingsModel';

/**
 * The memory state of one notebook's kernel, as small models that each own one concern
 * and say when it changed, so that a view re-renders only with what it shows:
 *
 * - `readings`: the link's status, the shim's hello, samples, timeline, thresholds;
 * - `cells`: the running cell and the records of those that ended;
 * - `variables`: the variable scan and the sizes after each cell (growth);
 * - `warnings`: pre-run warnings and leak hints; `predictions`: while editing;
 * - `postMortems`: deaths under a cell and what the next kernel tells about them.
 *
 * This one takes the kernel's messages and hands each to its model, and does what
 * spans several (a death, a restart, a dead kernel's spool). The connection feeds it;
 * the views listen to the parts they show.
 */
export class MemoryModel {
  constructor(options: { maxSamples?: number; maxCells?: number } = {}) {
    this.readings = new ReadingsModel({ maxSamples: options.maxSamples });
    this.cells = new CellsModel({ maxCells: options.maxCells });
    this.warnings = new WarningsModel({ maxWarnings: options.maxCells });
  }

  readonly readings: ReadingsModel;
  readonly cells: CellsModel;
  readonly variables = new VariablesModel();
  readonly warnings: WarningsModel;
  /** Predictions for cells as they are edited. */
  readonly predictions = new CellPredictions();
  readonly postMortems = new PostMortemModel();

  /** Messages refused since the model was made (for diagnostics and tests). */
  get rejectedCount(): number {
    return this._rejected;
  }

  /** Messages kept in part (a field left out or cut) since the model was made. */
  get repairedCount(): number {
    return this._repaired;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  setStatus(state: ConnectionState, message = '', cell: ICellReference | null = null): void {
    this.readings.setStatus(state, message, cell);
  }

  /** Forget the kernel-specific state when the notebook gets another kernel. */
  resetKernel(): void {
    this.cells.stopRunning();
    this._forgetNamespace();
    this.readings.setHello(null);
  }

  /** The kernel process is going away (a restart or a death). */
  kernelGone(): void {
    this._forgetNamespace();
  }

  /**
   * The kernel died (or the server restarted it after it died). If a cell was running,
   * keep what we last saw of it: that is the user's only clue to why.
   */
  recordKernelDeath(): IPostMortem | null {
    const running = this.cells.stopRunning();
    if (!running) {
      return null;
    }
    return this.postMortems.record(running, this.readings.hello, this.readings.latest);
  }

  /** The `spool` request to send now, if any (see PostMortemModel.takeSpoolRequest). */
  takeSpoolRequest(): { pid: number; since: number | null } | null {
    return this.postMortems.takeSpoolRequest();
  }

  /** A `spool` request went unanswered (an older shim in the new kernel). */
  spoolUnanswered(pid: number, note: string): void {
    this.postMortems.spoolUnanswered(pid, note);
  }

  /**
   * Take a message from the kernel: what is valid of it, field by field (what was left
   * out or cut is said in a console warning). A message that cannot be used at all is
   * dropped with a warning; one of another protocol version marks the link incompatible.
   */
  handleMessage(data: unknown): void {
    if (this._isDisposed) {
      return;
    }
    const parsed = parseKernelMessage(data);
    if (!parsed.ok) {
      this._rejected++;
      console.warn(`oomguard: dropped a message from the kernel: ${parsed.reason}`);
      if (parsed.versionMismatch !== undefined) {
        this.setStatus(
          'incompatible',
          `The kernel's oomguard speaks protocol v${parsed.versionMismatch}; this ` +
            `extension speaks v${PROTOCOL_VERSION}. Install the same version in ` +
            'both: pip install -U oomguard'
        );
      }
      return;
    }
    const message = parsed.message;
    if (parsed.problems.length) {
      this._repaired++;
      console.warn(
        `oomguard: kept what was valid of a ${message.type} message from the kernel: ` +
          parsed.problems.join('; ')
      );
    }
    switch (message.type) {
      case 'hello': {
        const previous = this.readings.hello;
        if (previous && previous.pid !== message.pid) {
          // A restart keeps the kernel connection (no kernelChanged): a new process
          // is told by a hello with a new pid.
          this._forgetNamespace();
        }
        this.readings.setHello(message);
        this.setStatus('connected');
        this.postMortems.helloAfterDeath(message);
        break;
      }
      case 'spool':
        this._mergeSpool(message);
        break;
      case 'sample':
        this.readings.add(message);
        if (message.running_cell !== undefined) {
          // Samples say what runs now, which also heals a missed cell_start or cell.
          this.cells.heal(message.running_cell);
        }
        break;
      case 'error':
        this.readings.setError(message.message);
        break;
      case 'cell_start':
        this.cells.start({
          execution_count: message.execution_count,
          cell_id: message.cell_id,
          start: message.start
        });
        break;
      case 'cell':
        // The record first: the timeline, told of the span, then sees no cell running.
        this.cells.add(message.record);
        this.readings.addSpans([message.record]);
        break;
      case 'variables':
        this.variables.setScan(message);
        break;
      case 'sizes':
        this.variables.addSizes(message);
        break;
      case 'hints':
        this.warnings.setHints(message.hints, this.cells.last);
        break;
      case 'warning':
        this.warnings.add(message);
        break;
      case 'prediction':
        this.predictions.accept(message); // stale answers are ignored there
        break;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const part of [
      this.readings,
      this.cells,
      this.variables,
      this.warnings,
      this.predictions,
      this.postMortems
    ]) {
      Signal.clearData(part);
    }
  }

  /**
   * What described the namespace of a kernel that is gone. Samples, cells and
   * post-mortems stay: they are the session's history. So does the running cell:
   * JupyterLab reports an automatic restart as 'restarting' just before
   * 'autorestarting', and the death is recorded against the cell at the second.
   */
  private _forgetNamespace(): void {
    this.variables.clear();
    this.warnings.clearHints();
    this.predictions.clear();
  }

  /**
   * The samples and cells a dead kernel spooled after our last sample, merged in time
   * order (marked `from_spool`) into the readings and the cells; the post-mortem takes
   * the spool's last reading.
   */
  private _mergeSpool(message: ISpoolMessage): void {
    const postMortem = this.postMortems.awaitingSpool(message.pid);
    if (!postMortem) {
      return; // not asked for, or asked for twice
    }
    const samples = this.readings.insert(spooledSamples(message));
    const cells = this.cells.insert(message.cells);
    this.readings.addSpans(cells);
    this.postMortems.backfilled(postMortem, message, samples, cells.length);
  }

  private _rejected = 0;
  private _repaired = 0;
  private _isDisposed = false;
}
