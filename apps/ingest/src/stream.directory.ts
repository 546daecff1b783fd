import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Bus, JsonStore } from '@livemesh/bus';
import { BUCKETS, KEY_HASH_PATTERN, type StreamKeyEntry, type StreamRecord } from '@livemesh/contracts';
import { cursorKey, initialCursor, isCursor, type IngestCursor } from './ingest.cursor.js';

export type RecordListener = (streamId: string, record: StreamRecord | undefined) => void;
export type KeyDeletedListener = (keyHash: string) => void;

/**
 * Ingest's view of the orchestrator's state in KV: publish keys (`lm_keys`), stream records
 * (`lm_streams`, one-token keys) and ingest's own cursors (`lm_ingest`, keyed by stream id).
 */
@Injectable()
export class StreamDirectory implements OnApplicationShutdown {
  private readonly logger = new Logger(StreamDirectory.name);
  private readonly keys: JsonStore<StreamKeyEntry>;
  private readonly records: JsonStore<StreamRecord>;
  private readonly cursors: JsonStore<IngestCursor>;
  private readonly stops: (() => void)[] = [];

  constructor(@Inject(Bus) bus: Bus) {
    this.keys = bus.store(BUCKETS.keys);
    this.records = bus.store(BUCKETS.streams);
    this.cursors = bus.store(BUCKETS.ingest);
  }

  /** `lm_keys[keyHash]`, when it holds a well-formed entry (the bucket is keyed by the key's SHA-256). */
  async lookupKey(keyHash: string): Promise<{ streamId: string } | undefined> {
    if (!KEY_HASH_PATTERN.test(keyHash)) return undefined;
    const e = await this.keys.get(keyHash);
    const v = e?.value as { streamId?: unknown } | undefined;
    return typeof v?.streamId === 'string' ? { streamId: v.streamId } : undefined;
  }

  async record(streamId: string): Promise<StreamRecord | undefined> {
    return (await this.records.get(streamId))?.value;
  }

  /** Watches stream records (current values first, then changes; undefined = deleted). */
  async watchRecords(listener: RecordListener): Promise<void> {
    this.stops.push(await this.records.watch('*', (id, value) => listener(id, value)));
  }

  /** Calls `listener` with the hash of every key deleted from `lm_keys` from now on: its stream stopped or the key was rotated. */
  async watchKeyDeletes(listener: KeyDeletedListener): Promise<void> {
    this.stops.push(
      await this.keys.watch('>', (key, value) => {
        if (value === undefined) listener(key);
      }),
    );
  }

  async loadCursor(streamId: string): Promise<IngestCursor> {
    const e = await this.cursors.get(cursorKey(streamId));
    if (e && isCursor(e.value, streamId)) return e.value;
    if (e) this.logger.warn(`stream ${streamId}: cursor ${cursorKey(streamId)} is malformed; numbering restarts at 0`);
    return initialCursor(streamId);
  }

  async saveCursor(cursor: IngestCursor): Promise<void> {
    await this.cursors.put(cursorKey(cursor.streamId), cursor);
  }

  async deleteCursor(streamId: string): Promise<void> {
    await this.cursors.delete(cursorKey(streamId));
  }

  onApplicationShutdown(): void {
    for (const stop of this.stops.splice(0)) stop();
  }
}
