/**
 * schema/protocol.json as a JSON Schema (ajv, draft 2020-12): the front end's fixtures
 * and the messages it builds are valid as sent, and the reader agrees with the
 * validator on them. The kernel's messages are validated in every pytest that captures
 * them (python_shim/tests/protocol_check.py).
 */
import Ajv2020 from 'ajv/dist/2020';
import protocolSchema from '../../schema/protocol.json';
import { clientMessage, parseKernelMessage, predictMessage } from '../protocol';
import { cellRecord, gpu, hello, sample, variable, warning } from './fixtures';

/** Our reading keywords (the schema's `$comment`) are annotations to a validator. */
function validator() {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  for (const keyword of ['onInvalid', 'atomic', 'clamp']) {
    ajv.addKeyword({ keyword, schemaType: ['string', 'boolean'] });
  }
  ajv.addSchema(protocolSchema);
  return (definition: string, value: unknown) => {
    const validate = ajv.getSchema(`${protocolSchema.$id}#/$defs/${definition}`)!;
    return validate(value) ? [] : validate.errors!.map(e => `${e.instancePath} ${e.message}`);
  };
}

describe('schema/protocol.json', () => {
  const errors = validator();

  it.each([
    ['hello', 'helloMessage', hello({ oom_kills: 0, oom_group: null })],
    ['sample', 'sampleMessage', sample()],
    [
      'sample with GPUs, a running cell and a cluster',
      'sampleMessage',
      sample({
        gpus: [gpu(), gpu({ index: 1, used: null })],
        running_cell: { execution_count: 4, cell_id: null, start: 1 },
        cluster: { engine: 'dask', memory: 700, limit: null, workers: 2 }
      })
    ],
    ['cell', 'cellMessage', { v: 1, type: 'cell', record: cellRecord() }],
    [
      'variables',
      'variablesMessage',
      { v: 1, type: 'variables', variables: [variable()], truncated: false, took: 0.01 }
    ],
    ['warning', 'warningMessage', warning()],
    [
      'hello with the memory cgroup\'s high-water mark',
      'helloMessage',
      hello({ cgroup_peak: 2 ** 31, cgroup_peak_file: '/sys/fs/cgroup/memory.peak' })
    ],
    [
      'warning with the guard setting, one call and page cache',
      'warningMessage',
      warning({ setting: 'auto', single_call: true, page_cache: 2 ** 30 })
    ]
  ])('the %s fixture is valid as sent, and read without a repair', (_, definition, message) => {
    expect(errors(definition, message)).toEqual([]);
    expect(parseKernelMessage(message)).toEqual({ ok: true, message, problems: [] });
  });

  it('says what is invalid', () => {
    expect(errors('sampleMessage', sample({ rss: -1, notes: 'x' }))).toEqual([
      '/rss must be >= 0',
      '/notes must be array'
    ]);
  });

  it.each([
    ['open', clientMessage({ type: 'open', client: 'jupyterlab' })],
    ['settings', clientMessage({ type: 'settings', interval: 0.5 })],
    ['refresh', clientMessage({ type: 'refresh' })],
    ['variables', clientMessage({ type: 'variables' })],
    ['spool', clientMessage({ type: 'spool', pid: 4242, since: null })],
    ['predict', predictMessage(7, 'x = torch.zeros(10)', 'cell-a')]
  ])('the front end builds a valid %s request', (_, message) => {
    expect(errors('clientMessage', message)).toEqual([]);
  });
});
