import { loadEnv, QuotaExceededError, type StreamRecord } from '@livemesh/contracts';
import { chainRenditions, QuotaBook, quotaLimits } from './stream.quotas.js';
import { lastActivity } from './streams.sweeper.js';

const record = (id: string, state: StreamRecord['state'], pull = false): { key: string; value: StreamRecord } => ({
  key: id,
  value: { id, state, keyHash: 'k', request: { id, ...(pull ? { source: { url: 'rtmp://x/y' } } : {}) }, chainVersion: 1, createdAt: '', updatedAt: '', errors: [] },
});

function refusal(f: () => unknown): QuotaExceededError {
  try {
    f();
  } catch (e) {
    if (e instanceof QuotaExceededError) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('QuotaBook', () => {
  const limits = { liveStreams: 3, pulls: 1, srtListeners: 2, srtOn: false, renditions: 4 };

  it('counts starting and live streams and the starts being admitted, not ended ones', () => {
    const table = [record('a', 'live'), record('b', 'ended'), record('c', 'failed'), record('d', 'stopping')];
    const book = new QuotaBook(limits, () => table);
    book.admit('e', {});
    book.admit('f', {});
    const e = refusal(() => book.admit('g', {}));
    expect(e).toMatchObject({ code: 'LM_QUOTA', limit: 'live-streams', current: 3, max: 3 });
    expect(e.message).toMatch(/MAX_LIVE_STREAMS=3/);
  });

  it('gives a slot back once released, and a second start of a counted id takes none', () => {
    const book = new QuotaBook(limits, () => [record('a', 'live'), record('b', 'starting')]);
    const release = book.admit('c', {});
    expect(() => book.admit('d', {})).toThrow(QuotaExceededError);
    book.admit('a', {});
    book.admit('c', {});
    release();
    // 'c' is still being started by its second start.
    expect(() => book.admit('d', {})).toThrow(QuotaExceededError);
  });

  it('caps pulls separately, and SRT listeners only while SRT is on', () => {
    const table = [record('p', 'live', true)];
    expect(refusal(() => new QuotaBook(limits, () => table).admit('q', { source: { url: 'srt://h:1' } }))).toMatchObject({ limit: 'pulls', current: 1, max: 1 });
    const published = [record('a', 'live'), record('b', 'live')];
    expect(() => new QuotaBook(limits, () => published).admit('c', {})).not.toThrow();
    expect(refusal(() => new QuotaBook({ ...limits, srtOn: true }, () => published).admit('c', {}))).toMatchObject({ limit: 'srt-listeners', current: 2, max: 2 });
  });

  it('counts the renditions of ladders, multiplied when they follow each other', () => {
    const ladder = (n: number) => ({ params: { renditions: Array.from({ length: n }, (_, i) => ({ name: `r${i}` })) } });
    expect(chainRenditions([{ params: {} }])).toBe(1);
    expect(chainRenditions([{ params: {} }, ladder(3)])).toBe(3);
    expect(chainRenditions([ladder(2), ladder(3)])).toBe(6);
    const book = new QuotaBook(limits, () => []);
    expect(() => book.checkRenditions([ladder(4)])).not.toThrow();
    expect(refusal(() => book.checkRenditions([ladder(2), ladder(3)]))).toMatchObject({ limit: 'renditions', current: 6, max: 4 });
  });

  it('takes its limits from the environment, SRT listeners no more than the port range has', () => {
    expect(quotaLimits(loadEnv({}))).toEqual({ liveStreams: 32, pulls: 8, srtListeners: 0, srtOn: false, renditions: 4 });
    expect(quotaLimits(loadEnv({ SRT_PORT_RANGE: '9000-9009' })).srtListeners).toBe(10);
    expect(quotaLimits(loadEnv({ SRT_PORT_RANGE: '9000-9099' })).srtListeners).toBe(32);
  });
});

describe('lastActivity', () => {
  it('is the last segment ingest published, or the start when there was none', () => {
    const started = { createdAt: '2026-01-01T00:00:00.000Z' };
    expect(lastActivity(started, undefined, 's')).toBe(Date.parse(started.createdAt));
    expect(lastActivity(started, { streamId: 's', updatedAt: '2026-01-01T00:05:00.000Z' }, 's')).toBe(Date.parse('2026-01-01T00:05:00.000Z'));
    // A cursor left from an earlier run of the id, another stream's or a malformed one does not count.
    expect(lastActivity(started, { streamId: 's', updatedAt: '2025-12-31T00:00:00.000Z' }, 's')).toBe(Date.parse(started.createdAt));
    expect(lastActivity(started, { streamId: 't', updatedAt: '2026-01-01T00:05:00.000Z' }, 's')).toBe(Date.parse(started.createdAt));
    expect(lastActivity(started, { streamId: 's', updatedAt: 42 }, 's')).toBe(Date.parse(started.createdAt));
  });
});
