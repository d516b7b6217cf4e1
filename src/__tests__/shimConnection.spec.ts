/**
 * The connection's decisions — which kernels it loads into, what it tells the user
 * when loading fails or stalls, how it follows restarts — against a stand-in for
 * JupyterLab's kernel connection. The real thing is exercised by ui-tests/.
 */
import { Signal } from '@lumino/signaling';
import { ATTACH_SOURCE } from '../kernel/attachSource';
import { LOAD_CODE, ShimConnection } from '../kernel/shimConnection';
import { MemoryModel } from '../model/memoryModel';
import { hello, sample, trans } from './fixtures';

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

class FakeKernel {
  statusChanged = new Signal<FakeKernel, string>(this);
  connectionStatusChanged = new Signal<FakeKernel, string>(this);
  comms: FakeComm[] = [];
  executed: any[] = [];
  language = 'python';
  reply: Reply = { status: 'ok' };
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
  requestExecute(content: any) {
    this.executed.push(content);
    return { done: Promise.resolve({ content: this.reply }) };
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

async function settle() {
  for (let i = 0; i < 5; i++) {
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

  it('tells the user when the kernel does not answer, and recovers', async () => {
    const kernel = new FakeKernel(false);
    const { model } = connect(kernel);
    await settle();
    expect(model.readings.status.state).toBe('connecting');
    jest.advanceTimersByTime(20000);
    expect(model.readings.status.state).toBe('waiting');
    expect(model.readings.status.message).toContain('has not answered');
    kernel.answerInfo();
    await settle();
    kernel.comms[0].receive(hello());
    expect(model.readings.status.state).toBe('connected');
  });

  it('says so when the shim sends no hello', async () => {
    const kernel = new FakeKernel();
    const { model } = connect(kernel);
    await settle();
    jest.advanceTimersByTime(15000);
    expect(model.readings.status.state).toBe('waiting');
    expect(model.readings.status.message).toContain('no reading');
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
});
