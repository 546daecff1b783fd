import type { ChainSpec } from '@livemesh/contracts';

/** The part of JsonStore<ChainSpec> the cache uses (a unit test hands it an in-memory one). */
export interface ChainSource {
  get(key: string): Promise<{ value: ChainSpec; revision: number } | undefined>;
  /** Older values the bucket still keeps for the key (lm_chains keeps 5). */
  history(key: string): Promise<{ value: ChainSpec; revision: number }[]>;
  watch(key: string, onChange: (key: string, value: ChainSpec | undefined, revision: number) => void): Promise<() => void>;
}

interface Entry {
  /** The newest chain, undefined once the stream's chain was deleted. */
  latest?: ChainSpec;
  revision: number;
  /** Recent versions by number, so an in-flight segment finds the chain it was routed with. */
  versions: Map<number, ChainSpec>;
}

/** Versions remembered per stream; a segment older than this many changes is rare enough to re-read. */
const KEEP_VERSIONS = 8;

/**
 * Chain specs by stream id, read from `lm_chains` once and then kept current by a KV watch, so a
 * chain change applies from the next segment without a KV read per segment.
 *
 * A segment carries the chain version it was routed with, and every hop resolves it against that
 * same version: after a change, segments already in flight finish on the chain they started on
 * (the new chain may have another service at this position), and the next segment ingest cuts
 * takes the new one. A revision number orders the watch and direct reads, which can arrive in
 * either order.
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
   * The stream's chain at exactly `version` when given (the version a segment was routed with),
   * else the newest; undefined when the stream has no chain (it stopped). When the exact version
   * is no longer known anywhere, the newest is returned and routing decides whether it still fits.
   */
  async get(streamId: string, version?: number): Promise<ChainSpec | undefined> {
    const found = this.lookup(streamId, version);
    if (found) return found;
    // The watch may lag a moment behind the writer.
    const read = await this.source.get(streamId);
    if (read) this.apply(streamId, read.value, read.revision);
    if (version === undefined) return this.entries.get(streamId)?.latest;
    const again = this.lookup(streamId, version);
    if (again || !this.entries.get(streamId)?.latest) return again;
    // A worker started after the change has never seen the older version: the bucket keeps it.
    const entry = this.entries.get(streamId)!;
    for (const old of await this.source.history(streamId)) remember(entry, old.value);
    return this.lookup(streamId, version) ?? entry.latest;
  }

  private lookup(streamId: string, version?: number): ChainSpec | undefined {
    const entry = this.entries.get(streamId);
    if (!entry?.latest) return undefined;
    return version === undefined ? entry.latest : entry.versions.get(version);
  }

  private apply(streamId: string, chain: ChainSpec | undefined, revision: number): void {
    const known = this.entries.get(streamId);
    if (known && known.revision >= revision) return;
    const entry: Entry = { latest: chain, revision, versions: chain ? (known?.versions ?? new Map()) : new Map() };
    if (chain) remember(entry, chain);
    this.entries.set(streamId, entry);
    if (!chain && known?.latest) this.onGone(streamId);
  }
}

function remember(entry: Entry, chain: ChainSpec): void {
  entry.versions.set(chain.version, chain);
  while (entry.versions.size > KEEP_VERSIONS) entry.versions.delete(Math.min(...entry.versions.keys()));
}
