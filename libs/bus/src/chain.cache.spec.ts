import type { ChainSpec } from '@livemesh/contracts';
import { ChainCache, type ChainSource } from './chain.cache.js';

const chain = (version: number): ChainSpec => ({ streamId: 's1', version, hops: [], updatedAt: '' });

/** An in-memory lm_chains: get() counts reads; emit() plays the KV watch. */
class MemoryChains implements ChainSource {
  reads = 0;
  value?: { value: ChainSpec; revision: number };
  older: { value: ChainSpec; revision: number }[] = [];
  async history() {
    return [...this.older, ...(this.value ? [this.value] : [])];
  }
  listener?: (key: string, value: ChainSpec | undefined, revision: number) => void;
  async get() {
    this.reads++;
    return this.value;
  }
  async watch(_key: string, onChange: (key: string, value: ChainSpec | undefined, revision: number) => void) {
    this.listener = onChange;
    return () => (this.listener = undefined);
  }
  emit(value: ChainSpec | undefined, revision: number) {
    this.listener!('s1', value, revision);
  }
}

describe('ChainCache', () => {
  it('reads a chain once, then follows the watch', async () => {
    const src = new MemoryChains();
    const cache = new ChainCache(src);
    await cache.start();
    src.value = { value: chain(1), revision: 1 };
    expect((await cache.get('s1'))?.version).toBe(1);
    expect((await cache.get('s1'))?.version).toBe(1);
    expect(src.reads).toBe(1);
    src.emit(chain(2), 2);
    expect((await cache.get('s1'))?.version).toBe(2);
    expect(src.reads).toBe(1);
  });

  it('ignores a watch event older than what a direct read returned', async () => {
    const src = new MemoryChains();
    const cache = new ChainCache(src);
    await cache.start();
    src.value = { value: chain(3), revision: 3 };
    await cache.get('s1');
    src.emit(chain(2), 2);
    expect((await cache.get('s1'))?.version).toBe(3);
  });

  it('reads again when a segment was routed with a newer version than the cached one', async () => {
    const src = new MemoryChains();
    const cache = new ChainCache(src);
    await cache.start();
    src.emit(chain(1), 1);
    src.value = { value: chain(2), revision: 2 };
    expect((await cache.get('s1', 2))?.version).toBe(2);
    expect(src.reads).toBe(1);
  });

  it('answers a segment with the chain version it was routed with, not the newest', async () => {
    // After a change puts another service at a position, a segment already in flight must finish
    // on its own chain, or it would be dead-lettered for a hop it no longer matches.
    const src = new MemoryChains();
    const cache = new ChainCache(src);
    await cache.start();
    src.emit(chain(1), 1);
    src.emit(chain(2), 2);
    expect((await cache.get('s1', 1))?.version).toBe(1);
    expect((await cache.get('s1', 2))?.version).toBe(2);
    expect((await cache.get('s1'))?.version).toBe(2);
    expect(src.reads).toBe(0);
  });

  it('finds an older version in the bucket history when it started after the change', async () => {
    const src = new MemoryChains();
    src.older = [{ value: chain(1), revision: 1 }];
    src.value = { value: chain(2), revision: 2 };
    const cache = new ChainCache(src);
    await cache.start();
    expect((await cache.get('s1', 1))?.version).toBe(1);
    expect((await cache.get('s1', 2))?.version).toBe(2);
  });

  it('falls back to the newest chain when a version is gone from history too', async () => {
    const src = new MemoryChains();
    src.value = { value: chain(9), revision: 9 };
    const cache = new ChainCache(src);
    await cache.start();
    expect((await cache.get('s1', 3))?.version).toBe(9);
  });

  it('forgets a deleted chain and tells the owner once', async () => {
    const src = new MemoryChains();
    const gone: string[] = [];
    const cache = new ChainCache(src, (id) => gone.push(id));
    await cache.start();
    src.emit(chain(1), 1);
    src.emit(undefined, 2);
    src.emit(undefined, 3);
    expect(gone).toEqual(['s1']);
    expect(await cache.get('s1')).toBeUndefined();
    cache.stop();
    expect(src.listener).toBeUndefined();
  });
});
