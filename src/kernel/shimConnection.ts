import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { deathMessage } from '../views/postMortemText';
import { ICellReference, IPostMortem, MemoryModel } from '../model/memoryModel';
import {
  clientMessage,
  COMM_TARGET,
  ClientMessage,
  predictMessage
} from '../protocol';
import { ATTACH_SOURCE } from './attachSource';
import { replyOf, retryDelay, TIMED_OUT, within } from './patience';

/**
 * Loads the *installed* shim and enables it: python_shim/oomguard/attach.py finds it
 * where its distribution was installed, never a module of that name in the notebook's
 * folder (first on the kernel's sys.path). A `silent` execute fires no
 * pre/post_run_cell, so it touches neither history nor the records; `exec` in a
 * namespace of its own binds no name in the user's.
 */
export const LOAD_CODE = `exec(${JSON.stringify(ATTACH_SOURCE)}, {'__name__': '__oomguard_attach__'})`;

/** The shim that LOAD_CODE loaded, looked up (never imported: that would search sys.path). */
const ALLOW_NEXT_CODE = "__import__('sys').modules['oomguard'].allow_next()";

/** After this long without an answer the user is told the kernel is busy or stuck. */
const ANSWER_TIMEOUT_MS = 20000;
/** After loading, the shim says hello at once; this long without one is a problem. */
const HELLO_TIMEOUT_MS = 15000;
/**
 * Attached, the shim sends a sample every interval, also while cells run. Silent this
 * long (and at least this many intervals) while the kernel is idle: the link is gone
 * (a restart nobody told us about); attach again.
 */
const SILENT_MS = 10000;
const SILENT_INTERVALS = 5;
/** A restart whose new socket never said `connected` or `idle` to us: attach anyway. */
const RESTART_FALLBACK_MS = 10000;
/** A spool answer is read on a thread of its own in the kernel; this long is a lot. */
const SPOOL_TIMEOUT_MS = 30000;

export const INSTALL_HINT = '%pip install oomguard';

/**
 * The link between one notebook's session and the shim in its kernel.
 *
 * It loads the shim, opens the comm and feeds every message to the model. It follows
 * the session: a new kernel or a restart re-attaches, a dead kernel is reported. It
 * never throws into JupyterLab: every failure becomes a status on the model.
 */
export class ShimConnection implements IDisposable {
  constructor(options: ShimConnection.IOptions) {
    this._sessionContext = options.sessionContext;
    this._model = options.model;
    this._trans = options.trans;
    this._interval = options.interval;
    this._autoAttach = options.autoAttach ?? true;
    this._settingsLoaded = options.settingsLoaded ?? Promise.resolve();
    this._nameCell = options.nameCell;
    this._sessionContext.kernelChanged.connect(this._onKernelChanged, this);
    this._watchKernel(this._sessionContext.session?.kernel ?? null);
    this._aliveTimer = window.setInterval(() => this._checkAlive(), SILENT_MS / 2);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** Seconds between samples; sent to the kernel at once when attached. */
  get interval(): number {
    return this._interval;
  }

  set interval(seconds: number) {
    this._interval = seconds;
    this._send(clientMessage({ type: 'settings', interval: seconds }));
  }

  /**
   * Whether the shim is loaded into the notebook's kernel without being asked (the
   * `autoAttach` setting). Off, the model says so and waits for `attach()`; once
   * attached by hand, the notebook re-attaches after restarts while it is open.
   * Turning it on attaches at once; turning it off leaves an attached kernel attached.
   */
  get autoAttach(): boolean {
    return this._autoAttach;
  }

  set autoAttach(value: boolean) {
    if (value === this._autoAttach) {
      return;
    }
    this._autoAttach = value;
    if (value && this._model.readings.status.state === 'detached') {
      void this._attach();
    }
  }

  /** Ask the kernel for a reading now (it answers once the shell is free). */
  refresh(): void {
    this._send(clientMessage({ type: 'refresh' }));
  }

  /**
   * Let the kernel's next cell past the pre-run check ("run anyway" after a block).
   * A silent execute: it fires no cell hooks, so it does not use the allowance itself.
   */
  async allowNext(): Promise<boolean> {
    const kernel = this._kernel;
    if (!kernel) {
      return false;
    }
    const reply = await kernel.requestExecute({
      code: ALLOW_NEXT_CODE,
      silent: true,
      store_history: false,
      allow_stdin: false,
      stop_on_error: false
    }).done;
    return reply.content.status === 'ok';
  }

  /** Ask the kernel for the sizes of the variables in its namespace. */
  requestVariables(): void {
    this._send(clientMessage({ type: 'variables' }));
  }

  /**
   * Ask the kernel what the cell, as it is being edited, would allocate. The answer
   * comes as a `prediction` message to the model, which keeps it while it is the
   * newest for the cell. Returns the request's id, or null when nothing was sent (not
   * connected, or the source is over the size cap).
   */
  predict(source: string, cellId: string): number | null {
    const id = this._nextPredictId;
    const message = predictMessage(id, source, cellId);
    if (!message || !this._comm || this._model.readings.status.state !== 'connected') {
      return null;
    }
    this._nextPredictId++;
    this._model.predictions.requested(cellId, id, source);
    this._send(message);
    return id;
  }

  /**
   * (Re)load the shim in the current kernel and open the comm. Safe to call at any
   * time: an attach in progress for an older kernel is abandoned. Called by hand (the
   * panel's button) it also holds for this notebook's later kernels.
   */
  async attach(): Promise<void> {
    this._wanted = true;
    return this._attach();
  }

  /**
   * Attach where allowed: always with auto-attach on, else once asked by hand. Not
   * before the user's settings are read: a notebook restored at start-up must not be
   * attached on the default when the user turned auto-attach off.
   */
  private async _attachIfWanted(): Promise<void> {
    await this._settingsLoaded;
    if (this._isDisposed) {
      return;
    }
    if (this._autoAttach || this._wanted || !this._kernel) {
      void this._attach(); // without a kernel: says so
      return;
    }
    this._generation++;
    this._closeComm();
    this._model.setStatus(
      'detached',
      this._trans.__(
        'oomguard does not attach to kernels by itself (the auto-attach setting is off). Attach to measure this kernel.'
      )
    );
  }

  /**
   * Load the shim and open the comm. Every wait is bounded: an answer that does not
   * come is asked for again (kernel_info) or the whole attach is tried again while the
   * kernel is not busy (the load, the hello), so a message lost around a restart never
   * leaves the panel waiting for good. A later attach makes every earlier one stale.
   */
  private async _attach(attempt = 0, since = Date.now()): Promise<void> {
    const generation = ++this._generation;
    const stale = () => this._isDisposed || generation !== this._generation;
    const kernel = this._kernel;
    this._closeComm();
    if (!kernel) {
      this._model.setStatus('no-kernel', this._trans.__('This notebook has no kernel.'));
      return;
    }
    this._asking = true;
    if (attempt === 0) {
      this._model.setStatus('connecting', this._trans.__('Loading oomguard in the kernel…'));
      this._attachSince = since;
      window.setTimeout(() => this._sayStillWaiting(since), ANSWER_TIMEOUT_MS);
    }
    try {
      const info = await this._kernelInfo(kernel, stale);
      if (stale() || !info) {
        return;
      }
      const language = info.language_info?.name ?? '';
      if (language.toLowerCase() !== 'python') {
        this._model.setStatus(
          'not-python',
          language
            ? this._trans.__('oomguard measures Python kernels; this notebook runs %1.', language)
            : this._trans.__(
                'oomguard measures Python kernels; this notebook runs a kernel of unknown language.'
              )
        );
        return;
      }
      const reply = await this._load(kernel, stale, since, attempt);
      this._asking = false;
      if (stale() || !reply) {
        return;
      }
      if (reply.content.status !== 'ok') {
        this._reportLoadFailure(reply.content);
        return;
      }
      this._openComm(kernel, stale, attempt, since);
    } catch (reason) {
      if (!stale()) {
        this._model.setStatus(
          'error',
          this._trans.__('Could not attach to the kernel: %1', errorText(reason))
        );
      }
    }
  }

  /**
   * The kernel's info. JupyterLab caches the answer to its own request, made when the
   * socket connects; where that request went unanswered, ask again ourselves, on a
   * widening timer, until one answer comes. Null once stale.
   */
  private async _kernelInfo(
    kernel: Kernel.IKernelConnection,
    stale: () => boolean
  ): Promise<KernelMessage.IInfoReply | null> {
    const answers: Promise<KernelMessage.IInfoReply>[] = [kernel.info];
    for (let attempt = 0; !stale(); attempt++) {
      const answer = await within(Promise.race(answers), retryDelay(attempt));
      if (answer !== TIMED_OUT) {
        return answer;
      }
      answers.push(askKernelInfo(kernel));
    }
    return null;
  }

  /**
   * Run the attach code; its shell reply, or null when stale or tried again. A reply
   * that does not come while the kernel is not busy was lost (sent into a socket being
   * replaced): the whole attach is tried again. While a cell runs it comes after.
   */
  private async _load(
    kernel: Kernel.IKernelConnection,
    stale: () => boolean,
    started: number,
    attempt: number
  ): Promise<KernelMessage.IExecuteReplyMsg | null> {
    const reply = replyOf(
      kernel.requestExecute({
        code: LOAD_CODE,
        silent: true,
        store_history: false,
        allow_stdin: false,
        stop_on_error: false
      })
    );
    for (let wait = attempt; !stale(); wait++) {
      const answer = await within(reply, retryDelay(wait));
      if (answer !== TIMED_OUT) {
        return answer;
      }
      if (!stale() && kernel.status !== 'busy') {
        void this._attach(attempt + 1, started);
        return null;
      }
    }
    return null;
  }

  /**
   * ANSWER_TIMEOUT_MS into an attach (and its tries again) that still waits for the
   * kernel's info or the load's reply: the kernel is busy or stuck, and we keep trying.
   */
  private _sayStillWaiting(since: number): void {
    const state = this._model.readings.status.state;
    if (!this._isDisposed && this._attachSince === since && this._asking &&
      state === 'connecting') {
      this._model.setStatus(
        'waiting',
        this._trans.__(
          'The kernel has not answered for %1 s; still waiting (is a cell running?).',
          ANSWER_TIMEOUT_MS / 1000
        )
      );
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    window.clearInterval(this._aliveTimer);
    window.clearTimeout(this._restartFallback);
    this._closeComm();
    this._watchKernel(null);
    this._sessionContext.kernelChanged.disconnect(this._onKernelChanged, this);
  }

  private _onKernelChanged(
    _: ISessionContext,
    change: { newValue: Kernel.IKernelConnection | null }
  ): void {
    this._model.resetKernel();
    this._watchKernel(change.newValue);
  }

  private _watchKernel(kernel: Kernel.IKernelConnection | null): void {
    this._kernel?.statusChanged.disconnect(this._onKernelStatus, this);
    this._kernel?.connectionStatusChanged?.disconnect(this._onConnectionStatus, this);
    this._kernel = kernel;
    this._awaitingRestart = false;
    window.clearTimeout(this._restartFallback);
    if (this._isDisposed) {
      return;
    }
    kernel?.statusChanged.connect(this._onKernelStatus, this);
    kernel?.connectionStatusChanged?.connect(this._onConnectionStatus, this);
    void this._attachIfWanted();
  }

  /**
   * After an automatic restart JupyterLab opens a new socket to the new kernel, whose
   * first `idle` (answering kernel_info, a message the server does not track) never
   * reaches us: attach once the socket is connected.
   */
  private _onConnectionStatus(
    _: Kernel.IKernelConnection,
    status: Kernel.ConnectionStatus
  ): void {
    if (status === 'connected' && this._awaitingRestart) {
      this._restarted();
    }
  }

  /** The kernel is back after a restart: attach to the new process. */
  private _restarted(): void {
    this._awaitingRestart = false;
    window.clearTimeout(this._restartFallback);
    void this._attachIfWanted();
  }

  /**
   * A restart began: the comm is gone with the old process. Attach once the new one is
   * connected or idle, or, should neither be said to us, after RESTART_FALLBACK_MS.
   */
  private _restarting(): void {
    this._generation++;
    this._comm = null;
    this._awaitingRestart = true;
    window.clearTimeout(this._restartFallback);
    const kernel = this._kernel;
    const wait = () => {
      this._restartFallback = window.setTimeout(() => {
        if (!this._awaitingRestart || this._isDisposed || kernel !== this._kernel) {
          return;
        }
        if (kernel?.connectionStatus === 'connected' && kernel.status !== 'restarting' &&
          kernel.status !== 'autorestarting') {
          this._restarted();
        } else {
          wait();
        }
      }, RESTART_FALLBACK_MS);
    };
    wait();
  }

  private _onKernelStatus(
    _: Kernel.IKernelConnection,
    status: Kernel.Status
  ): void {
    switch (status) {
      case 'restarting':
        // A restart the user asked for. JupyterLab disposes every comm on restart;
        // attach again once idle.
        this._restarting();
        this._model.setStatus(
          'disconnected',
          this._trans.__('The kernel is restarting; oomguard reconnects when it is back.')
        );
        this._model.kernelGone();
        break;
      case 'autorestarting': {
        // The kernel died and the server is starting a new one.
        this._restarting();
        const death = this._model.recordKernelDeath();
        this._model.setStatus(
          'disconnected',
          this._trans.__(
            '%1 It is being restarted; oomguard reconnects when it is back.',
            this._deathMessage(death)
          ),
          death
        );
        this._model.kernelGone();
        break;
      }
      case 'dead': {
        this._generation++;
        this._comm = null;
        this._awaitingRestart = false;
        window.clearTimeout(this._restartFallback);
        const death = this._model.recordKernelDeath();
        this._model.setStatus(
          'dead',
          this._trans.__('%1 The last reading is kept below.', this._deathMessage(death)),
          death
        );
        this._model.kernelGone();
        break;
      }
      case 'idle':
        if (this._awaitingRestart) {
          this._restarted();
        }
        break;
    }
  }

  /** The death note, naming the cell as the notebook shows it now (the tracker knows). */
  private _deathMessage(death: IPostMortem | null): string {
    return deathMessage(death, this._trans, death ? this._nameCell?.(death) : undefined);
  }

  private _openComm(
    kernel: Kernel.IKernelConnection,
    stale: () => boolean,
    attempt: number,
    since: number
  ) {
    const comm = kernel.createComm(COMM_TARGET);
    this._comm = comm;
    this._heardAt = Date.now();
    let greeted = false; // this comm's hello came (the model may hold an older kernel's)
    comm.onMsg = msg => {
      if (this._comm === comm) {
        this._heardAt = Date.now();
        greeted ||= (msg.content.data as { type?: unknown } | null)?.type === 'hello';
        this._model.handleMessage(msg.content.data);
        this._askForSpool(comm);
      }
    };
    comm.onClose = () => {
      if (this._comm !== comm) {
        return;
      }
      this._comm = null;
      if (!stale()) {
        this._model.setStatus(
          'disconnected',
          this._trans.__(
            'The kernel closed the oomguard connection (oomguard.disable() or the ' +
              'kernel was shut down). Reconnect to resume.'
          )
        );
      }
    };
    comm.open(clientMessage({ type: 'open', client: 'jupyterlab' }) as any);
    this._send(clientMessage({ type: 'settings', interval: this._interval }));
    const unanswered = () => !stale() && this._comm === comm && !greeted;
    // The shim answers the open at once: without a hello, the open or the answer was
    // lost (a socket being replaced); try again once the kernel is not busy (a cell
    // that runs holds the open back, where comms do not go over subshells).
    const checkHello = () => {
      if (!unanswered()) {
        return;
      }
      if (kernel.status === 'busy') {
        window.setTimeout(checkHello, retryDelay(attempt));
      } else {
        void this._attach(attempt + 1, since);
      }
    };
    window.setTimeout(checkHello, retryDelay(attempt));
    window.setTimeout(
      () => {
        if (unanswered()) {
          this._model.setStatus(
            'waiting',
            this._trans.__('oomguard is loaded in the kernel but has sent no reading yet.')
          );
        }
      },
      Math.max(0, since + HELLO_TIMEOUT_MS - Date.now())
    );
  }

  /**
   * Every few seconds while attached: a kernel that is idle and connected but has sent
   * nothing for SILENT_MS (and SILENT_INTERVALS samples' time) lost the link without a
   * restart status reaching us: attach again.
   */
  private _checkAlive(): void {
    const kernel = this._kernel;
    if (
      !kernel ||
      !this._comm ||
      this._model.readings.status.state !== 'connected' ||
      kernel.status !== 'idle' ||
      kernel.connectionStatus !== 'connected'
    ) {
      return;
    }
    const silentFor = Date.now() - this._heardAt;
    if (silentFor >= Math.max(SILENT_MS, SILENT_INTERVALS * this._interval * 1000)) {
      void this._attachIfWanted();
    }
  }

  /**
   * After a death, once the next kernel has said hello: ask it for what the dead one
   * spooled after our last sample. A shim too old to know the request never answers.
   */
  private _askForSpool(comm: Kernel.IComm): void {
    const request = this._model.takeSpoolRequest();
    if (!request) {
      return;
    }
    this._send(clientMessage({ type: 'spool', ...request }));
    window.setTimeout(() => {
      if (!this._isDisposed) {
        this._model.spoolUnanswered(
          request.pid,
          this._comm === comm
            ? this._trans.__(
                "The kernel did not send the dead kernel's spool (is its oomguard older?)."
              )
            : this._trans.__('The connection to the kernel was lost before the spool came.')
        );
      }
    }, SPOOL_TIMEOUT_MS);
  }

  private _reportLoadFailure(
    content: KernelMessage.IExecuteReply | KernelMessage.IReplyErrorContent |
      KernelMessage.IReplyAbortContent
  ): void {
    const error = content as Partial<KernelMessage.IReplyErrorContent>;
    const ename = error.ename ?? 'Error';
    const evalue = error.evalue ?? '';
    if (ename === 'ModuleNotFoundError' && evalue.includes('oomguard')) {
      this._model.setStatus(
        'missing',
        this._trans.__(
          "oomguard is not installed in this kernel's environment. Run %1 in a cell, " +
            'then restart the kernel.',
          INSTALL_HINT
        )
      );
    } else {
      this._model.setStatus(
        'error',
        this._trans.__('Loading oomguard in the kernel failed: %1: %2', ename, evalue)
      );
    }
  }

  private _send(message: ClientMessage): void {
    const comm = this._comm;
    if (!comm || comm.isDisposed) {
      return;
    }
    try {
      comm.send(message as any);
    } catch (reason) {
      console.warn(`oomguard: could not send to the kernel: ${errorText(reason)}`);
    }
  }

  private _closeComm(): void {
    const comm = this._comm;
    this._comm = null;
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // The kernel is gone already; nothing to close.
      }
    }
  }

  private _sessionContext: ISessionContext;
  private _model: MemoryModel;
  private _trans: TranslationBundle;
  private _interval: number;
  private _autoAttach: boolean;
  private _settingsLoaded: Promise<unknown>;
  private _nameCell?: (cell: ICellReference) => string;
  /** attach() was called by hand: attach this notebook's kernels from now on. */
  private _wanted = false;
  private _kernel: Kernel.IKernelConnection | null = null;
  private _comm: Kernel.IComm | null = null;
  private _generation = 0;
  private _nextPredictId = 1;
  private _awaitingRestart = false;
  private _restartFallback = 0;
  /** The current attach (and its tries again) began then, and waits on the kernel. */
  private _attachSince = 0;
  private _asking = false;
  /** When the comm last brought a message (ms). */
  private _heardAt = 0;
  private _aliveTimer = 0;
  private _isDisposed = false;
}

export namespace ShimConnection {
  export interface IOptions {
    sessionContext: ISessionContext;
    model: MemoryModel;
    /** Seconds between samples. */
    interval: number;
    /** Load the shim without being asked (default true; the `autoAttach` setting). */
    autoAttach?: boolean;
    /** Settles once the user's settings are read: nothing is attached before. */
    settingsLoaded?: Promise<unknown>;
    /** For the status messages. */
    trans: TranslationBundle;
    /**
     * How the death note names a cell so the user finds it ("cell 3 of 12 (…)"): its
     * execution count is gone from its prompt once the kernel restarts.
     */
    nameCell?: (cell: ICellReference) => string;
  }
}

/** The kernel's info from a kernel_info request of our own; never settles on failure. */
function askKernelInfo(kernel: Kernel.IKernelConnection): Promise<KernelMessage.IInfoReply> {
  return new Promise(resolve => {
    kernel.requestKernelInfo().then(
      reply => {
        if (reply && reply.content.status === 'ok') {
          resolve(reply.content);
        }
      },
      () => undefined // not connected yet, or disposed: the next attempt asks again
    );
  });
}

function errorText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
