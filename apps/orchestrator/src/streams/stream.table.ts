import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Bus, JsonStore, type JsonEntry } from '@livemesh/bus';
import { BUCKETS, type StreamRecord } from '@livemesh/contracts';

/**
 * The orchestrator's in-memory view of `lm_streams`: loaded at boot, kept current by a KV watch,
 * and written through by StreamsService the moment it writes a record (the watch lags by a
 * round trip). Quota admission counts from it without a bucket read per request, and the
 * sweeper walks it. An older revision never overwrites a newer one, so the watch and the
 * write-through can arrive in any order.
 */
@Injectable()
export class StreamTable implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(StreamTable.name);
  private readonly records: JsonStore<StreamRecord>;
  private readonly entries = new Map<string, JsonEntry<StreamRecord>>();
  private stopWatch?: () => void;

  constructor(@Inject(Bus) bus: Bus) {
    this.records = bus.store(BUCKETS.streams);
  }

  async onModuleInit(): Promise<void> {
    // Loaded before the API listens, so the first start is already counted against every stream.
    for (const e of await this.records.list()) this.apply(e.key, e.value, e.revision);
    this.stopWatch = await this.records.watch('>', (key, value, revision) => this.apply(key, value, revision));
    this.logger.log(`${this.entries.size} stream record(s) loaded`);
  }

  onApplicationShutdown(): void {
    this.stopWatch?.();
  }

  /** Takes a record value (or a delete, `undefined`) at `revision` unless a newer one is already here. */
  apply(id: string, value: StreamRecord | undefined, revision: number): void {
    const current = this.entries.get(id);
    if (current && current.revision > revision) return;
    if (value === undefined) this.entries.delete(id);
    else if (typeof value === 'object' && value !== null && typeof value.state === 'string') this.entries.set(id, { key: id, value, revision });
  }

  /** Forgets a record this orchestrator deleted itself (the watch confirms it later). */
  forget(id: string, revision: number): void {
    if ((this.entries.get(id)?.revision ?? -1) <= revision) this.entries.delete(id);
  }

  get(id: string): JsonEntry<StreamRecord> | undefined {
    return this.entries.get(id);
  }

  all(): JsonEntry<StreamRecord>[] {
    return [...this.entries.values()];
  }
}
