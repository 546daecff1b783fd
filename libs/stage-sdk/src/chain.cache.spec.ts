import type { ChainSpec } from '@livemesh/contracts';
import { ChainCache, type ChainSource } from './chain.cache.js';

const chain = (version: number): ChainSpec => ({ streamId: 's1', version, hops: [], updatedAt: '' });

/** An in-memory lm_chains: get() counts reads; emit() plays the KV watch. */
class MemoryChains implements ChainSource {
  reads = 0;
  value?: { value: ChainSpec; revision: number };
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
