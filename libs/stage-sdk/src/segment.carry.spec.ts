import { BusError, carryKey } from '@livemesh/contracts';
import type { Carry, CarryStore } from '@livemesh/bus';
import { SegmentCarryAccess } from './segment.carry.js';
import type { StageLog } from './stage.definition.js';

/** The KV bucket, in memory: our own interface at the edge of this unit test. */
class MemoryCarries {
  readonly values = new Map<string, Carry>();
  failNextGet?: Error;
  async get(key: string): Promise<Carry | undefined> {
    if (this.failNextGet) {
      const e = this.failNextGet;
      this.failNextGet = undefined;
      throw e;
    }
    return this.values.get(key);
  }
  async put(key: string, carry: Carry): Promise<void> {
    this.values.set(key, carry);
  }
}

const warnings: string[] = [];
const log: StageLog = { log: () => undefined, debug: () => undefined, error: () => undefined, warn: (m) => warnings.push(m) };
const meta = (seq: number, epoch = 0) => ({ streamId: 's1', hop: 2, rendition: 'main', seq, epoch });

function access(store: MemoryCarries, seq: number, epoch = 0, signal = new AbortController().signal) {
  return new SegmentCarryAccess(store as unknown as CarryStore, meta(seq, epoch), signal, log);
}

describe('SegmentCarryAccess', () => {
  it('hands segment seq + 1 what segment seq left, under its stream, hop and rendition', async () => {
    const store = new MemoryCarries();
    await access(store, 4).leave({ meta: { gain: 3 }, data: new Uint8Array([1, 2]) });
    expect([...store.values.keys()]).toEqual([carryKey('s1', 2, 'main', 4)]);
    const got = await access(store, 5).previous();
    expect(got?.meta).toEqual({ gain: 3 });
    expect([...got!.data]).toEqual([1, 2]);
    expect(await access(store, 6).previous()).toBeUndefined();
  });

  it('gives nothing at seq 0 or across a timeline restart (another epoch)', async () => {
    const store = new MemoryCarries();
    await access(store, 0, 1).leave({ meta: {}, data: new Uint8Array() });
    expect(await access(store, 0, 1).previous({ waitMs: 1000 })).toBeUndefined();
    expect(await access(store, 1, 2).previous()).toBeUndefined();
    expect(await access(store, 1, 1).previous()).toBeDefined();
  });

  it('waits for a predecessor another replica is still working on, up to waitMs', async () => {
    const store = new MemoryCarries();
    const waiting = access(store, 8).previous({ waitMs: 5000 });
    setTimeout(() => void access(store, 7).leave({ meta: { late: true }, data: new Uint8Array() }), 100);
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

  it('treats an unreadable carry as none and says so', async () => {
    const store = new MemoryCarries();
    store.failNextGet = new BusError('carry x is unreadable: 2 bytes');
    expect(await access(store, 1).previous({ waitMs: 1000 })).toBeUndefined();
    expect(warnings.at(-1)).toBe('carry of seq 0 skipped: carry x is unreadable: 2 bytes');
  });
});
