/**
 * Waiting on a kernel without waiting forever on one promise.
 *
 * Right after a restart a message can be lost: JupyterLab's own `kernel_info` request,
 * sent as the new socket connects, may never be answered (JupyterLab itself falls back
 * on a timer there), and a reply's `idle` status on iopub can be dropped while the
 * server's subscription to the new kernel is being set up, so an execute's `done` never
 * settles. The connection therefore asks again on a timer (`within`), and takes an
 * execute's shell reply as its answer (`replyOf`), not the iopub status after it.
 */
import { Kernel, KernelMessage } from '@jupyterlab/services';

export const TIMED_OUT = Symbol('timed out');

/** The answer, or TIMED_OUT after `ms` (the answer may still come later). */
export function within<T>(answer: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer = 0;
  const timeout = new Promise<typeof TIMED_OUT>(resolve => {
    timer = window.setTimeout(() => resolve(TIMED_OUT), ms);
  });
  return Promise.race([answer, timeout]).finally(() => window.clearTimeout(timer));
}

/**
 * An execute request's shell reply. `future.done` also waits for the kernel's `idle`
 * status on iopub, which can be lost after a restart; the reply on the shell channel is
 * enough to know the code ran.
 */
export function replyOf(
  future: Kernel.IShellFuture<KernelMessage.IExecuteRequestMsg, KernelMessage.IExecuteReplyMsg>
): Promise<KernelMessage.IExecuteReplyMsg> {
  return new Promise((resolve, reject) => {
    future.onReply = reply => resolve(reply);
    future.done.then(resolve, reject);
  });
}

/** How long each wait for an answer lasts before asking again, by attempt (ms). */
export const RETRY_MS = [3000, 5000, 10000, 20000, 30000];

export function retryDelay(attempt: number): number {
  return RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)];
}
