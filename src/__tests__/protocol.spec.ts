import { clientMessage, parseKernelMessage, PROTOCOL_VERSION } from '../protocol';
import { hello, sample } from './fixtures';

describe('parseKernelMessage', () => {
  it('accepts well-formed hello, sample and error messages', () => {
    for (const message of [
      hello(),
      sample(),
      { v: 1, type: 'error', message: 'cgroup unreadable' }
    ]) {
      const result = parseKernelMessage(message);
      expect(result.ok).toBe(true);
    }
  });

  it('accepts null readings, which mean "not measured"', () => {
    const result = parseKernelMessage(
      sample({ rss: null, limit: null, free: null, used: null, notes: ['no /proc'] })
    );
    expect(result.ok).toBe(true);
  });

  it('ignores fields it does not know (additive protocol changes)', () => {
    expect(parseKernelMessage(sample({ vram: [1, 2] })).ok).toBe(true);
  });

  it.each([
    ['a string', 'hello'],
    ['null', null],
    ['an array', [1, 2]],
    ['no type', { v: 1 }],
    ['an unknown type', { v: 1, type: 'explode' }],
    ['a negative rss', sample({ rss: -1 })],
    ['a string rss', sample({ rss: '12' })],
    ['NaN limit', sample({ limit: NaN })],
    ['Infinity free', sample({ free: Infinity })],
    ['missing t', sample({ t: undefined })],
    ['notes not a list', sample({ notes: 'oops' })],
    ['a note that is not text', sample({ notes: [{ html: '<b>' }] })],
    ['an oversize note', sample({ notes: ['x'.repeat(5000)] })],
    ['too many notes', sample({ notes: Array(100).fill('n') })],
    ['a fractional pid', hello({ pid: 1.5 })],
    ['a zero interval', hello({ interval: 0 })],
    ['an error without text', { v: 1, type: 'error' }]
  ])('rejects %s', (_, message) => {
    const result = parseKernelMessage(message);
    expect(result.ok).toBe(false);
  });

  it('reports a different protocol version as a mismatch', () => {
    const result = parseKernelMessage(sample({ v: 2 }));
    expect(result).toEqual(
      expect.objectContaining({ ok: false, versionMismatch: 2 })
    );
  });

  it('does not call a missing version a mismatch of a known number', () => {
    const result = parseKernelMessage(sample({ v: undefined }));
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.versionMismatch).toBeUndefined();
  });
});

describe('clientMessage', () => {
  it('stamps the protocol version', () => {
    expect(clientMessage({ type: 'settings', interval: 0.5 })).toEqual({
      v: PROTOCOL_VERSION,
      type: 'settings',
      interval: 0.5
    });
  });
});
