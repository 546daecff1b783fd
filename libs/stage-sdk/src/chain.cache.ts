import type { ChainSpec } from '@livemesh/contracts';

/** The part of JsonStore<ChainSpec> the cache uses (a unit test hands it an in-memory one). */
export interface ChainSource {
  get(key: string): Promise<{ value: ChainSpec; revision: number } | undefined>;
  watch(key: string, onChange: (key: string, value: ChainSpec | undefined, revision: number) => void): Promise<() => void>;
}

interface Entry {
  chain?: ChainSpec;
  revision: number;
}

/**
 * Chain specs by stream id, read from `lm_chains` once and then kept current by a KV watch, so
 * a chain change applies from the next segment without a KV read per segment. A revision number
 * orders the watch and direct reads, which can otherwise arrive in either order.
 */
export class ChainCache {
  private readonly entries = new Map<string, Entry>();
  private stopWatch?: () => void;

  constructor(
    private readonly source: ChainSource,
    /** Called when a stream's chain is deleted (the stream stopped). */
    private readonly onGone: (streamId: string) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    this.stopWatch = await this.source.watch('>', (key, value, revision) => this.apply(key, value, revision));
  }

  stop(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
  }

  /**
   * The stream's chain, at least at `minVersion` when the segment says it was routed with that
   * version (the watch may lag a moment behind the writer); undefined when the stream has none.
   */
  async get(streamId: string, minVersion = 0): Promise<ChainSpec | undefined> {
    const cached = this.entries.get(streamId)?.chain;
    if (cached && cached.version >= minVersion) return cached;
    const read = await this.source.get(streamId);
    if (read) this.apply(streamId, read.value, read.revision);
    return this.entries.get(streamId)?.chain;
  }

  private apply(streamId: string, chain: ChainSpec | undefined, revision: number): void {
    const known = this.entries.get(streamId);
    if (known && known.revision >= revision) return;
    this.entries.set(streamId, { chain, revision });
    if (!chain && known?.chain) this.onGone(streamId);
  }
}
