import { ISignal, Signal } from '@lumino/signaling';
import {
  IHelloMessage,
  ISampleMessage,
  parseKernelMessage,
  PROTOCOL_VERSION
} from '../protocol';

/**
 * Where the link to a notebook's kernel stands. Every state but `connected` comes
 * with a message for the user that says what is wrong and what to do.
 */
export type ConnectionState =
  | 'no-kernel'
  | 'connecting'
  | 'connected'
  | 'waiting'
  | 'not-python'
  | 'missing'
  | 'incompatible'
  | 'disconnected'
  | 'dead'
  | 'error';

export interface IConnectionStatus {
  state: ConnectionState;
  /** Plain text for the user; empty when connected. */
  message: string;
}

export type MemoryChange = 'status' | 'hello' | 'sample' | 'error';

/** Keep an hour of 1 Hz samples; the full timeline comes with the charts. */
const DEFAULT_MAX_SAMPLES = 3600;

/**
 * The memory state of one notebook's kernel: connection status, the shim's hello,
 * and the samples it has sent. It owns the state and says when it changes; the
 * connection feeds it and the views render it.
 */
export class MemoryModel {
  constructor(options: { maxSamples?: number } = {}) {
    this._maxSamples = options.maxSamples ?? DEFAULT_MAX_SAMPLES;
  }

  get changed(): ISignal<this, MemoryChange> {
    return this._changed;
  }

  get status(): IConnectionStatus {
    return this._status;
  }

  get hello(): IHelloMessage | null {
    return this._hello;
  }

  /** The newest sample, or null before the first one. */
  get latest(): ISampleMessage | null {
    return this._samples.length
      ? this._samples[this._samples.length - 1]
      : null;
  }

  /** Samples oldest first, at most `maxSamples` of them. */
  get samples(): readonly ISampleMessage[] {
    return this._samples;
  }

  /** When the newest sample arrived (browser clock, ms), or null. */
  get lastReceivedAt(): number | null {
    return this._lastReceivedAt;
  }

  /** The last problem the shim reported, if any. */
  get shimError(): string | null {
    return this._shimError;
  }

  /** Messages refused since the model was made (for diagnostics and tests). */
  get rejectedCount(): number {
    return this._rejected;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  setStatus(state: ConnectionState, message = ''): void {
    if (this._status.state === state && this._status.message === message) {
      return;
    }
    this._status = { state, message };
    this._changed.emit('status');
  }

  /** Forget the kernel-specific state when the notebook gets another kernel. */
  resetKernel(): void {
    this._hello = null;
    this._shimError = null;
    this._changed.emit('hello');
  }

  /**
   * Take a message from the kernel. Malformed messages are dropped with a console
   * warning; a message of another protocol version marks the link incompatible.
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
    switch (message.type) {
      case 'hello':
        this._hello = message;
        this._changed.emit('hello');
        this.setStatus('connected');
        break;
      case 'sample':
        this._addSample(message);
        break;
      case 'error':
        this._shimError = message.message;
        this._changed.emit('error');
        break;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
  }

  private _addSample(sample: ISampleMessage): void {
    this._samples.push(sample);
    this._lastReceivedAt = Date.now();
    if (this._samples.length > this._maxSamples) {
      this._samples.splice(0, this._samples.length - this._maxSamples);
    }
    if (this._status.state === 'waiting') {
      this.setStatus('connected');
    }
    this._changed.emit('sample');
  }

  private _changed = new Signal<this, MemoryChange>(this);
  private _status: IConnectionStatus = { state: 'no-kernel', message: '' };
  private _hello: IHelloMessage | null = null;
  private _samples: ISampleMessage[] = [];
  private _shimError: string | null = null;
  private _lastReceivedAt: number | null = null;
  private _rejected = 0;
  private _maxSamples: number;
  private _isDisposed = false;
}
