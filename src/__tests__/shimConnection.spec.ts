/**
 * The connection's decisions — which kernels it loads into, what it tells the user
 * when loading fails or stalls, how it follows restarts — against a stand-in for
 * JupyterLab's kernel connection. The real thing is exercised by ui-tests/.
 */
import { Signal } from '@lumino/signaling';
import { ATTACH_SOURCE } from '../kernel/attachSource';
import { LOAD_CODE, ShimConnection } from '../kernel/shimConnection';
import { MemoryModel } from '../model/memoryModel';
import { cellRecord, hello, sample, trans } from './fixtures';

class FakeComm {
  opened: unknown[] = [];
  sent: unknown[] = [];
  closed = false;
  isDisposed = false;
  onMsg: (msg: any) => void = () => undefined;
  onClose: (msg: any) => void = () => undefined;
  open(data: unknown) {
    this.opened.push(data);
  }
  send(data: unknown) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
  }
  receive(data: unknown) {
    this.onMsg({ content: { data } });
  }
}

type Reply = { status: string; ename?: string; evalue?: string };
/**
 * How the kernel answers an execute: in full (the shell reply and the iopub idle that
 * settles `done`), with the reply only (the idle lost, as around a restart), or not at
 * all (the request sent into a socket being replaced).
 */
type Answer = 'full' | 'reply only' | 'lost';

class FakeKernel {
  statusChanged = new Signal<FakeKernel, string>(this);
  connectionStatusChanged = new Signal<FakeKernel, string>(this);
  status = 'idle';
  connectionStatus = 'connected';
  comms: FakeComm[] = [];
  executed: any[] = [];
  language = 'python';
  reply: Reply = { status: 'ok' };
  /** How the next executes are answered, in order; then in full. */
  answers: Answer[] = [];
  /** How our own kernel_info requests are answered: true in full, false never. */
  infoRequests: boolean[] = [];
  askedForInfo = 0;
  infoAnswer: Promise<any>;
  private _answerInfo: (value: any) => void = () => undefined;

  constructor(answerAtOnce = true) {
    this.infoAnswer = new Promise(resolve => (this._answerInfo = resolve));
    if (answerAtOnce) {
      this.answerInfo();
    }
  }
  answerInfo() {
    this._answerInfo({ language_info: { name: this.language } });
  }
  get info() {
    return this.infoAnswer;
  }
  requestKernelInfo() {
    this.askedForInfo++;
    if (this.connectionStatus !== 'connected') {
      return Promise.reject(new Error('Could not send message: status is not connected'));
    }
    const answered = this.infoRequests.shift() ?? true;
    return answered
      ? Promise.resolve({ content: { status: 'ok', language_info: { name: this.language } } })
      : new Promise(() => undefined);
  }
  /** As JupyterLab emits them (with the connection status each implies). */
  emitStatus(...statuses: string[]) {
    for (const status of statuses) {
      this.status = status;
      this.statusChanged.emit(status);
    }
  }
  emitConnection(...statuses: string[]) {
    for (const status of statuses) {
      this.connectionStatus = status;
      if (status !== 'connected') {
        this.status = 'unknown';
      }
      this.connectionStatusChanged.emit(status);
    }
  }
  requestExecute(content: any) {
    this.executed.push(content);
    const answer = this.answers.shift() ?? 'full';
    const reply = { content: this.reply };
    const future: any = {
      onReply: undefined,
      done: answer === 'full' ? Promise.resolve(reply) : new Promise(() => undefined)
    };
    if (answer === 'reply only') {
      void Promise.resolve().then(() => future.onReply?.(reply));
    }
    return future;
  }
  createComm(target: string) {
    expect(target).toBe('oomguard');
    const comm = new FakeComm();
    this.comms.push(comm);
    return comm;
  }
}

class FakeSessionContext {
  kernelChanged = new Signal<FakeSessionContext, any>(this);
  session: { kernel: FakeKernel | null } | null = null;
  constructor(kernel: FakeKernel | null) {
    this.session = { kernel };
  }
  changeKernel(kernel: FakeKernel) {
    this.session = { kernel };
    this.kernelChanged.emit({ newValue: kernel });
  }
}

/** Let time pass a second at a time, promise chains settling between the timers. */
async function pass(ms: number) {
  for (let left = ms; left > 0; left -= 1000) {
    jest.advanceTimersByTime(Math.min(1000, left));
    await settle();
  }
}

/** Let every promise chain that can settle now settle (no timer runs). */
async function settle() {
  for (let i = 0; i < 50; i++) {
    await Promise.resolve();
  }
}

function connect(
  kernel: FakeKernel | null,
  options: {
    autoAttach?: boolean;
    settingsLoaded?: Promise<unknown>;
    nameCell?: (cell: { cell_id: string | null }) => string;
  } = {}
) {
  const model = new MemoryModel();
  const sessionContext = new FakeSessionContext(kernel);
  const connection = new ShimConnection({
    sessionContext: sessionContext as any,
    model,
    interval: 0.5,
    trans,
    ...options
  });
  return { model, sessionContext, connection };
}

describe('ShimConnection', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('loads the shim silently, opens the comm and sends the interval', async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    expect(kernel.executed).toHaveLength(1);
    expect(kernel.executed[0]).toEqual(
      expect.objectContaining({ silent: true, store_history: false })
    );
    // The installed shim only, run in a namespace of its own (attach.py; its behaviour
    // in a real kernel is python_shim/tests/test_attach.py's and the ui-tests').
    expect(kernel.executed[0].code).toBe(LOAD_CODE);
    expect(LOAD_CODE).toBe(
      `exec(${JSON.stringify(ATTACH_SOURCE)}, {'__name__': '__oomguard_attach__'})`
    );
    expect(ATTACH_SOURCE).toContain('module.enable()');
    expect(LOAD_CODE).not.toContain("__import__('oomguard')");
    const comm = kernel.comms[0];
    expect(comm.opened).toEqual([{ v: 1, type: 'open', client: 'jupyterlab' }]);
    expect(comm.sent).toEqual([{ v: 1, type: 'settings', interval: 0.5 }]);
    expect(model.readings.status.state).toBe('connecting');

    comm.receive(hello());
    comm.receive(sample({ rss: 123 }));
    expect(model.readings.status.state).toBe('connected');
    expect(model.readings.latest?.rss).toBe(123);
  });

  it('with auto-attach off runs nothing until asked, then follows restarts', async () => {
    const kernel = new FakeKernel();
    const { model, connection } = connect(kernel, { autoAttach: false });
    await settle();
    expect(kernel.executed).toHaveLength(0);
    expect(model.readings.status.state).toBe('detached');
    expect(model.readings.status.message).toContain('auto-attach setting is off');

    await connection.attach();
    await settle();
    expect(kernel.executed.map(e => e.code)).toEqual([LOAD_CODE]);
    kernel.comms[0].receive(hello());
    expect(model.readings.status.state).toBe('connected');

    // Attached by hand: a restart of this notebook's kernel attaches again.
    kernel.statusChanged.emit('restarting');
    kernel.statusChanged.emit('idle');
    await settle();
    expect(kernel.executed).toHaveLength(2);
  });

  it('waits for the settings before the first attach, and turning it on attaches', async () => {
    let loaded: () => void = () => undefined;
    const settingsLoaded = new Promise<void>(resolve => (loaded = resolve));
    const kernel = new FakeKernel();
    const { model, connection } = connect(kernel, { settingsLoaded });
    await settle();
    expect(kernel.executed).toHaveLength(0); // the default (on) is not acted upon
    connection.autoAttach = false; // what the user's settings say, once read
    loaded();
    await settle();
    expect(kernel.executed).toHaveLength(0);
    expect(model.readings.status.state).toBe('detached');

    connection.autoAttach = true;
    await settle();
    expect(kernel.executed.map(e => e.code)).toEqual([LOAD_CODE]);
  });

  it('says so when there is no kernel', async () => {
    const { model } = connect(null);
    await settle();
    expect(model.readings.status.state).toBe('no-kernel');
  });

  it('leaves non-Python kernels alone', async () => {
    const kernel = new FakeKernel(false);
    kernel.language = 'bash';
    kernel.answerInfo();
    const { model } = connect(kernel);
    await settle();
    expect(model.readings.status.state).toBe('not-python');
    expect(model.readings.status.message).toContain('bash');
    expect(kernel.executed).toHaveLength(0);
  });

  it('gives the install command when the module is missing', async () => {
    const kernel = new FakeKernel();
    kernel.reply = {
      status: 'error',
      ename: 'ModuleNotFoundError',
      evalue: "No module named 'oomguard'"
    };
    const { model } = connect(kernel);
    await settle();
    expect(model.readings.status.state).toBe('missing');
    expect(model.readings.status.message).toContain('%pip install oomguard');
    expect(kernel.comms).toHaveLength(0);
  });

  it('reports other load failures with the error', async () => {
    const kernel = new FakeKernel();
    kernel.reply = { status: 'error', ename: 'OSError', evalue: 'disk full' };
    const { model } = connect(kernel);
    await settle();
    expect(model.readings.status).toEqual(
      expect.objectContaining({ state: 'error' })
    );
    expect(model.readings.status.message).toContain('OSError: disk full');
  });

  it('tells the user when the kernel does not answer, asks again, and recovers', async () => {
    const kernel = new FakeKernel(false);
    kernel.infoRequests = Array(10).fill(false);
    const { model } = connect(kernel);
    await settle();
    expect(model.readings.status.state).toBe('connecting');
    await pass(20000);
    expect(model.readings.status.state).toBe('waiting');
    expect(model.readings.status.message).toContain('has not answered');
    expect(kernel.askedForInfo).toBeGreaterThanOrEqual(2); // never one wait for good
    kernel.answerInfo();
    await settle();
    kernel.comms[0].receive(hello());
    expect(model.readings.status.state).toBe('connected');
  });

  it('says so when the shim sends no hello, and keeps trying', async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    await pass(15000);
    expect(model.readings.status.state).toBe('waiting');
    expect(model.readings.status.message).toContain('no reading');
    expect(kernel.comms.length).toBeGreaterThan(1);
    kernel.comms[kernel.comms.length - 1].receive(hello());
    expect(model.readings.status.state).toBe('connected');
  });

  it('reports a comm the kernel closes', async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    kernel.comms[0].receive(hello());
    kernel.comms[0].onClose({});
    expect(model.readings.status.state).toBe('disconnected');
  });

  it('re-attaches after a restart, once the kernel is idle', async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    kernel.comms[0].receive(hello({ pid: 1 }));
    kernel.statusChanged.emit('restarting');
    expect(model.readings.status.state).toBe('disconnected');
    kernel.statusChanged.emit('starting');
    await settle();
    expect(kernel.comms).toHaveLength(1);
    kernel.statusChanged.emit('idle');
    await settle();
    expect(kernel.comms).toHaveLength(2);
    // Messages on the old comm no longer count.
    kernel.comms[0].receive(sample({ rss: 1 }));
    expect(model.readings.latest).toBeNull();
    kernel.comms[1].receive(hello({ pid: 2 }));
    expect(model.readings.status.state).toBe('connected');
    expect(model.readings.hello?.pid).toBe(2);
  });

  it('reports a dead kernel', async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    kernel.statusChanged.emit('dead');
    expect(model.readings.status.state).toBe('dead');
  });

  it('follows a change of kernel and closes the old comm', async () => {
    const first = new FakeKernel();
    const { model, sessionContext } = connect(first);
    await settle();
    first.comms[0].receive(hello({ pid: 1 }));
    const second = new FakeKernel();
    sessionContext.changeKernel(second);
    await settle();
    expect(first.comms[0].closed).toBe(true);
    expect(model.readings.hello).toBeNull();
    second.comms[0].receive(hello({ pid: 2 }));
    expect(model.readings.hello?.pid).toBe(2);
    // The old kernel's status no longer matters.
    first.statusChanged.emit('dead');
    expect(model.readings.status.state).toBe('connected');
  });

  it('sends new settings and refresh requests to the open comm', async () => {
    const kernel = new FakeKernel();
    const { connection } = connect(kernel);
    await settle();
    connection.interval = 2;
    connection.refresh();
    expect(kernel.comms[0].sent.slice(1)).toEqual([
      { v: 1, type: 'settings', interval: 2 },
      { v: 1, type: 'refresh' }
    ]);
  });

  it('stops listening when disposed', async () => {
    const kernel = new FakeKernel();
    const { model, connection } = connect(kernel);
    await settle();
    connection.dispose();
    expect(kernel.comms[0].closed).toBe(true);
    kernel.statusChanged.emit('dead');
    expect(model.readings.status.state).toBe('connecting');
  });

  it('tells what the kernel was doing when it died', async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    const comm = kernel.comms[0];
    comm.receive(hello());
    comm.receive({ v: 1, type: 'cell_start', execution_count: 7, cell_id: 'c7', start: 1 });
    const GiB = (n: number) => Math.round(n * 2 ** 30); // bytes are whole
    comm.receive(sample({ rss: GiB(12.4), used: GiB(12.5), limit: GiB(12.7) }));
    kernel.statusChanged.emit('autorestarting');
    expect(model.readings.status.state).toBe('disconnected');
    expect(model.readings.status.message).toContain(
      'The kernel died while cell [7] ran, with the session at 12.5 GiB of its 12.7 GiB limit (this kernel: 12.4 GiB): out of memory likely.'
    );
    expect(model.postMortems.all).toHaveLength(1);
    expect(model.postMortems.all[0]).toEqual(
      expect.objectContaining({ cell_id: 'c7', outOfMemoryLikely: true })
    );
  });

  it('names the dead cell as the notebook shows it, and points the status at it', async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel, {
      nameCell: cell => (cell.cell_id === 'c7' ? 'cell 3 of 9 ("x = big()")' : '?')
    });
    await settle();
    const comm = kernel.comms[0];
    comm.receive(hello());
    comm.receive({ v: 1, type: 'cell_start', execution_count: 7, cell_id: 'c7', start: 1 });
    comm.receive(sample({ rss: 1 * 2 ** 30, used: 2 * 2 ** 30, limit: 12 * 2 ** 30 }));
    kernel.statusChanged.emit('dead');
    expect(model.readings.status.message).toMatch(
      /^The kernel died while cell 3 of 9 \("x = big\(\)"\) ran, with the session at 2\.0 GiB/
    );
    expect(model.readings.status.cell).toEqual({ cell_id: 'c7', execution_count: 7 });
  });

  it("records the death when JupyterLab says 'restarting' just before 'autorestarting'", async () => {
    // @jupyterlab/services reports a server's automatic restart as the kernel's own
    // 'restarting' status, then (a microtask later) 'autorestarting'.
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    const comm = kernel.comms[0];
    comm.receive(hello());
    comm.receive({ v: 1, type: 'cell_start', execution_count: 3, cell_id: 'c3', start: 1 });
    comm.receive(sample());
    kernel.statusChanged.emit('restarting');
    kernel.statusChanged.emit('autorestarting');
    expect(model.postMortems.all.map(pm => pm.cell_id)).toEqual(['c3']);
  });

  it("asks the next kernel for the dead one's spool, once, after its hello", async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    kernel.comms[0].receive(hello({ pid: 100 }));
    kernel.comms[0].receive({ v: 1, type: 'cell_start', execution_count: 7, cell_id: 'c7', start: 1 });
    kernel.comms[0].receive(sample({ t: 1_700_000_002 }));
    kernel.statusChanged.emit('autorestarting');
    kernel.statusChanged.emit('idle');
    await settle();
    const comm = kernel.comms[1];
    const spoolRequests = () => comm.sent.filter((m: any) => m.type === 'spool');
    comm.receive(hello({ pid: 200 }));
    comm.receive(sample({ t: 1_700_000_009 }));
    expect(spoolRequests()).toEqual([{ v: 1, type: 'spool', pid: 100, since: 1_700_000_002 }]);
    expect(model.postMortems.all[0].backfill.state).toBe('requested');
  });

  it('re-attaches when the socket to an auto-restarted kernel connects', async () => {
    // JupyterLab reconnects after an automatic restart; the new kernel's first idle
    // answers kernel_info, which the server does not forward as a status.
    const kernel = new FakeKernel();
    connect(kernel);
    await settle();
    kernel.statusChanged.emit('restarting');
    kernel.statusChanged.emit('autorestarting');
    kernel.connectionStatusChanged.emit('connecting');
    kernel.connectionStatusChanged.emit('connected');
    await settle();
    expect(kernel.comms).toHaveLength(2);
    kernel.statusChanged.emit('idle'); // a later idle does not attach again
    await settle();
    expect(kernel.comms).toHaveLength(2);
  });

  it('does not call a restart the user asked for a death', async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    kernel.comms[0].receive({ v: 1, type: 'cell_start', execution_count: 2, cell_id: 'x', start: 1 });
    kernel.statusChanged.emit('restarting');
    expect(model.postMortems.all).toHaveLength(0);
  });

  /**
   * After a kernel death or restart the panel comes back by itself, whatever is lost
   * on the way. The orders are those @jupyterlab/services emits (kernel/default.js):
   * - the server's automatic restart (the kernel died): iopub status 'restarting',
   *   emitted as 'restarting' then, a microtask later, 'autorestarting'; the socket is
   *   opened anew: 'connecting' (status 'unknown'), 'connected'; then 'busy'/'idle' from
   *   JupyterLab's kernel_info request, when iopub already flows to the new kernel;
   * - a restart the user asked for: 'restarting'; the same reconnection.
   */
  describe('comes back after a death or restart', () => {
    async function attached() {
      const kernel = new FakeKernel();
      const { model } = connect(kernel);
      await settle();
      kernel.comms[0].receive(hello({ pid: 100, oom_kills: 0, oom_kills_file: '/cg/memory.oom_control' }));
      kernel.comms[0].receive({ v: 1, type: 'cell_start', execution_count: 2, cell_id: 'c2', start: 1 });
      kernel.comms[0].receive(sample({ t: 1_700_000_001 }));
      return { kernel, model };
    }

    async function autorestart(kernel: FakeKernel, iopubFlows = true) {
      kernel.emitStatus('restarting', 'autorestarting');
      kernel.emitConnection('connecting', 'connected');
      await settle();
      if (iopubFlows) {
        kernel.emitStatus('busy', 'idle');
        await settle();
      }
    }

    function helloAgain(kernel: FakeKernel, model: MemoryModel) {
      const comm = kernel.comms[kernel.comms.length - 1];
      comm.receive(hello({ pid: 200, oom_kills: 1, oom_kills_file: '/cg/memory.oom_control' }));
      expect(model.readings.status.state).toBe('connected');
      expect(model.readings.hello?.pid).toBe(200);
      // The post-mortem is finished: the kill confirmed, the spool asked for.
      expect(model.postMortems.all[0].oomKill.state).toBe('confirmed');
      expect(comm.sent.some((m: any) => m.type === 'spool' && m.pid === 100)).toBe(true);
    }

    it('when the load reply comes but its idle status is lost (the 2 in 15)', async () => {
      const { kernel, model } = await attached();
      kernel.answers = ['reply only'];
      await autorestart(kernel, false);
      expect(kernel.executed).toHaveLength(2);
      expect(kernel.comms).toHaveLength(2); // opened on the shell reply alone
      helloAgain(kernel, model);
    });

    it('when the load request is lost while the new kernel is idle', async () => {
      const { kernel, model } = await attached();
      kernel.answers = ['lost'];
      await autorestart(kernel);
      expect(kernel.comms).toHaveLength(1);
      await pass(3000);
      expect(kernel.executed).toHaveLength(3); // asked again
      expect(kernel.comms).toHaveLength(2);
      helloAgain(kernel, model);
    });

    it('waits for a busy kernel rather than asking again', async () => {
      const { kernel, model } = await attached();
      kernel.answers = ['lost'];
      await autorestart(kernel);
      kernel.emitStatus('busy'); // the user ran a cell at once
      await pass(30000);
      expect(kernel.executed).toHaveLength(2);
      expect(model.readings.status.state).toBe('waiting');
      kernel.emitStatus('idle'); // the cell ended, and still no reply: it was lost
      for (let waited = 0; kernel.executed.length < 3 && waited < 30; waited++) {
        await pass(1000);
      }
      expect(kernel.executed).toHaveLength(3);
      helloAgain(kernel, model);
    });

    it("when JupyterLab's own kernel_info never settled: it asks itself", async () => {
      const kernel = new FakeKernel(false); // kernel.info never settles
      kernel.infoRequests = [false, true];
      const { model } = connect(kernel);
      await settle();
      await pass(3000);
      expect(kernel.askedForInfo).toBe(1);
      expect(kernel.executed).toHaveLength(0);
      await pass(5000);
      expect(kernel.askedForInfo).toBe(2);
      expect(kernel.executed).toHaveLength(1);
      kernel.comms[0].receive(hello());
      expect(model.readings.status.state).toBe('connected');
    });

    it('when the hello is lost', async () => {
      const { kernel, model } = await attached();
      await autorestart(kernel);
      expect(kernel.comms).toHaveLength(2);
      await pass(3000); // no hello on comm 2: opened again
      expect(kernel.comms).toHaveLength(3);
      expect(kernel.comms[1].closed).toBe(true);
      helloAgain(kernel, model);
    });

    it('when the hello is lost behind a cell the user ran at once', async () => {
      const { kernel, model } = await attached();
      await autorestart(kernel);
      kernel.emitStatus('busy');
      await pass(20000);
      expect(kernel.comms).toHaveLength(2); // a busy kernel answers the open after its cell
      kernel.emitStatus('idle');
      await pass(3000);
      expect(kernel.comms).toHaveLength(3);
      helloAgain(kernel, model);
    });

    it('when neither connected nor idle reaches us after the restart', async () => {
      const { kernel, model } = await attached();
      kernel.emitStatus('restarting', 'autorestarting');
      kernel.status = 'idle'; // the new kernel runs; nothing said so
      await settle();
      expect(kernel.executed).toHaveLength(1);
      await pass(10000);
      expect(kernel.executed).toHaveLength(2);
      helloAgain(kernel, model);
    });

    it('when a restart the user asked for loses its first answers', async () => {
      const { kernel, model } = await attached();
      kernel.answers = ['lost', 'reply only'];
      kernel.emitStatus('restarting');
      kernel.emitConnection('connecting', 'connected');
      await settle();
      await pass(3000);
      expect(kernel.executed).toHaveLength(3);
      const comm = kernel.comms[kernel.comms.length - 1];
      comm.receive(hello({ pid: 200 }));
      expect(model.readings.status.state).toBe('connected');
      expect(model.postMortems.all).toHaveLength(0); // not a death
    });

    it('when the comm falls silent while the kernel is idle', async () => {
      const { kernel, model } = await attached();
      kernel.comms[0].receive({ v: 1, type: 'cell', record: cellRecord({ cell_id: 'c2' }) });
      await pass(8000);
      expect(kernel.comms).toHaveLength(1); // samples are a second apart: 8 s is not yet
      await pass(2000);
      expect(kernel.comms).toHaveLength(2);
      kernel.comms[1].receive(hello({ pid: 100 }));
      expect(model.readings.status.state).toBe('connected');
    });

    it('twenty deaths in a row, each with a different loss', async () => {
      const { kernel, model } = await attached();
      const losses: Answer[][] = [[], ['reply only'], ['lost'], ['lost', 'reply only']];
      for (let death = 0; death < 20; death++) {
        const comm = kernel.comms[kernel.comms.length - 1];
        comm.receive({ v: 1, type: 'cell_start', execution_count: death, cell_id: `d${death}`, start: 1 });
        kernel.answers = [...losses[death % losses.length]];
        await autorestart(kernel, death % 2 === 0);
        await pass(10000);
        const last = kernel.comms[kernel.comms.length - 1];
        last.receive(hello({ pid: 1000 + death, oom_kills: death + 1, oom_kills_file: '/cg/memory.oom_control' }));
        expect(model.readings.status.state).toBe('connected');
        expect(model.postMortems.all[death].oomKill.state).toBe('confirmed');
      }
    });
  });
});
