import { carryKey } from '@livemesh/contracts';
import type { Carry, CarryEntry, CarryStore } from '@livemesh/bus';
import { SegmentCarryAccess } from './segment.carry.js';
import type { StageLog } from './stage.definition.js';

/** The KV bucket with its compare-and-set, in memory: our own interface at the edge of this unit test. */
class MemoryCarries {
  readonly values = new Map<string, { revision: number; value: Carry | string }>();
  failNextGet?: Error;
  gets = 0;
  private revision = 0;
  async get(key: string): Promise<CarryEntry | undefined> {
    this.gets++;
    if (this.failNextGet) {
      const e = this.failNextGet;
      this.failNextGet = undefined;
      throw e;
    }
    const v = this.values.get(key);
    if (!v) return undefined;
    return typeof v.value === 'string' ? { revision: v.revision, unreadable: v.value } : { revision: v.revision, carry: v.value };
  }
  async put(key: string, carry: Carry, revision: number | undefined): Promise<boolean> {
    if (this.values.get(key)?.revision !== revision) return false;
    this.values.set(key, { revision: ++this.revision, value: carry });
    return true;
  }
}

const warnings: string[] = [];
const log: StageLog = { log: () => undefined, debug: () => undefined, error: () => undefined, warn: (m) => warnings.push(m) };

function access(store: MemoryCarries, seq: number, epoch = 0, signal = new AbortController().signal) {
  return new SegmentCarryAccess(store as unknown as CarryStore, { streamId: 's1', hop: 2, rendition: 'main', seq, epoch }, signal, log);
}

/** What the runner does: the stage leaves, the runner commits once the output is stored. */
async function left(store: MemoryCarries, seq: number, carry: Carry, epoch = 0): Promise<void> {
  const a = access(store, seq, epoch);
  a.leave(carry);
  await a.commit();
}

describe('SegmentCarryAccess', () => {
  it('hands segment seq + 1 what segment seq left, in one value per stream, hop and rendition', async () => {
    const store = new MemoryCarries();
    await left(store, 4, { meta: { gain: 3 }, data: new Uint8Array([1, 2]) });
    await left(store, 5, { meta: { gain: 4 }, data: new Uint8Array([3]) });
    expect([...store.values.keys()]).toEqual([carryKey('s1', 2, 'main')]);
    const got = await access(store, 6).previous();
    expect(got?.meta).toEqual({ gain: 4 });
    expect([...got!.data]).toEqual([3]);
    // Seq 4's carry was replaced by seq 5's (stored with seq 5's output, so seq 5 will not be
    // retried but only redelivered and deduplicated): what seq 5 sees again is nothing, not seq 5's own.
    expect(await access(store, 5).previous({ waitMs: 1000 })).toBeUndefined();
  });

  it('stores nothing for an attempt that failed before its output was stored', async () => {
    const store = new MemoryCarries();
    await left(store, 3, { meta: { from: 3 }, data: new Uint8Array() });
    access(store, 4).leave({ meta: { from: 'failed attempt of 4' }, data: new Uint8Array() });
    expect((await access(store, 4).previous())?.meta).toEqual({ from: 3 });
  });

  it('reads the value once for a segment that both reads and leaves, and again only when it changed meanwhile', async () => {
    const store = new MemoryCarries();
    await left(store, 4, { meta: { from: 4 }, data: new Uint8Array() });
    const a = access(store, 5);
    const before = store.gets;
    expect((await a.previous())?.meta).toEqual({ from: 4 });
    a.leave({ meta: { from: 5 }, data: new Uint8Array() });
    await a.commit();
    expect(store.gets - before).toBe(1);
    expect((await access(store, 6).previous())?.meta).toEqual({ from: 5 });

    const b = access(store, 6);
    await b.previous();
    await left(store, 7, { meta: { from: 7 }, data: new Uint8Array() });
    b.leave({ meta: { from: 6 }, data: new Uint8Array() });
    await b.commit();
    // Seq 7 wrote in between: the compare-and-set failed, the fresh read showed a newer carry.
    expect((await access(store, 8).previous())?.meta).toEqual({ from: 7 });
  });

  it('never lets an older segment replace what a newer one left', async () => {
    const store = new MemoryCarries();
    await left(store, 9, { meta: { from: 9 }, data: new Uint8Array() });
    await left(store, 8, { meta: { from: 8 }, data: new Uint8Array() });
    expect((await access(store, 10).previous())?.meta).toEqual({ from: 9 });
  });

  it('gives nothing at seq 0 or across a timeline restart (another epoch)', async () => {
    const store = new MemoryCarries();
    await left(store, 0, { meta: {}, data: new Uint8Array() }, 1);
    expect(await access(store, 0, 1).previous({ waitMs: 1000 })).toBeUndefined();
    expect(await access(store, 1, 2).previous()).toBeUndefined();
    expect(await access(store, 1, 1).previous()).toBeDefined();
  });

  it('waits for a predecessor another replica is still working on, up to waitMs', async () => {
    const store = new MemoryCarries();
    const waiting = access(store, 8).previous({ waitMs: 5000 });
    setTimeout(() => void left(store, 7, { meta: { late: true }, data: new Uint8Array() }), 100);
    expect((await waiting)?.meta).toEqual({ late: true });
    const started = performance.now();
    expect(await access(store, 20).previous({ waitMs: 150 })).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('stops waiting when the segment is given up', async () => {
    const store = new MemoryCarries();
    const abort = new AbortController();
    const waiting = access(store, 3, 0, abort.signal).previous({ waitMs: 10_000 });
    setTimeout(() => abort.abort(), 50);
    const started = performance.now();
    expect(await waiting).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('treats an unreadable or unreachable carry as none, says so, and still replaces it', async () => {
    const store = new MemoryCarries();
    store.values.set(carryKey('s1', 2, 'main'), { revision: 1, value: 'carry x is unreadable: 2 bytes' });
    expect(await access(store, 1).previous({ waitMs: 1000 })).toBeUndefined();
    expect(warnings.at(-1)).toBe('carry for seq 1 skipped: carry x is unreadable: 2 bytes');
    await left(store, 1, { meta: { ok: true }, data: new Uint8Array() });
    expect((await access(store, 2).previous())?.meta).toEqual({ ok: true });
    store.failNextGet = new Error('connection closed');
    expect(await access(store, 3).previous({ waitMs: 1000 })).toBeUndefined();
    expect(warnings.at(-1)).toBe('carry for seq 3 skipped: connection closed');
  });
});
