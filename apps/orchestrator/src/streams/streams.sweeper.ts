import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Bus, JsonStore } from '@livemesh/bus';
import {
  BUCKETS,
  statusKey,
  type ChainSpec,
  type DeliveryStatus,
  type IngestCursor,
  type IngestStatus,
  type StreamKeyEntry,
  type StreamRecord,
  ENV,
  type OrchestratorSettings,
} from '@livemesh/contracts';
import { deleteRecordAt } from './stream.purge.js';
import { StreamTable } from './stream.table.js';
import { StreamsService } from './streams.service.js';

/**
 * The part of ingest's cursor (`lm_ingest[<streamId>]`) the sweeper reads: ingest writes it after
 * every segment it publishes, so its time is when the stream's publisher (or pulled source) last
 * delivered media. Read defensively: it is another app's record.
 */
interface CursorTime {
  streamId?: unknown;
  updatedAt?: unknown;
}

/** Longest pause between two sweeps, ms: an idle stream ends at most this late. */
const MAX_PERIOD_MS = 10_000;

/** When a live stream last showed a publisher: its last segment, or its start when it never had one. */
export function lastActivity(record: Pick<StreamRecord, 'createdAt'>, cursor: CursorTime | undefined, streamId: string): number {
  const started = Date.parse(record.createdAt);
  const segment = cursor && cursor.streamId === streamId && typeof cursor.updatedAt === 'string' ? Date.parse(cursor.updatedAt) : NaN;
  return Math.max(Number.isFinite(started) ? started : 0, Number.isFinite(segment) ? segment : 0);
}

/**
 * Ends live streams whose publisher is gone (no segment for STREAM_IDLE_TIMEOUT_S) and deletes
 * what is left of ended streams after STREAM_RECORD_TTL_S. It works from the buckets alone, so
 * after an orchestrator restart the streams left live with nobody publishing end at its first
 * sweep, which runs at boot.
 */
@Injectable()
export class StreamsSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(StreamsSweeper.name);
  private readonly cursors: JsonStore<IngestCursor>;
  private readonly chains: JsonStore<ChainSpec>;
  private readonly keys: JsonStore<StreamKeyEntry>;
  private readonly status: JsonStore<IngestStatus | DeliveryStatus>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;
  private readonly periodMs: number;

  constructor(
    @Inject(Bus) private readonly bus: Bus,
    @Inject(ENV) private readonly env: OrchestratorSettings,
    @Inject(StreamTable) private readonly table: StreamTable,
    @Inject(StreamsService) private readonly streams: StreamsService,
  ) {
    this.cursors = bus.store(BUCKETS.ingest);
    this.chains = bus.store(BUCKETS.chains);
    this.keys = bus.store(BUCKETS.keys);
    this.status = bus.store(BUCKETS.status);
    // A third of the shorter limit, so neither is overshot by more than a third.
    const shortest = Math.min(env.STREAM_IDLE_TIMEOUT_S || Infinity, env.STREAM_RECORD_TTL_S) * 1000;
    this.periodMs = Math.min(MAX_PERIOD_MS, Math.max(250, Math.floor(shortest / 3)));
  }

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .then(() => undefined)
        .catch((e: Error) => this.logger.error(`sweep failed: ${e.message}`, e.stack))
        .finally(() => this.schedule(this.periodMs));
    }, delayMs);
    this.timer.unref();
  }

  /** One pass over every stream record: idle live streams end, expired ended ones go. */
  async sweep(): Promise<{ ended: string[]; expired: string[] }> {
    const ended: string[] = [];
    const expired: string[] = [];
    const now = Date.now();
    for (const entry of this.table.all()) {
      if (this.stopped) break;
      const { key: id, value } = entry;
      try {
        if (value.state === 'live' && this.env.STREAM_IDLE_TIMEOUT_S > 0) {
          const cursor = (await this.cursors.get(id))?.value;
          const since = lastActivity(value, cursor, id);
          if (now - since > this.env.STREAM_IDLE_TIMEOUT_S * 1000 && (await this.streams.endIdle(id, entry.revision, since))) ended.push(id);
        } else if ((value.state === 'ended' || value.state === 'failed') && now - Date.parse(value.updatedAt) > this.env.STREAM_RECORD_TTL_S * 1000) {
          if (await this.expire(id, entry.revision, value)) expired.push(id);
        }
      } catch (e) {
        this.logger.warn(`streamId=${id} sweep: ${(e as Error).message}`);
      }
    }
    if (expired.length) this.logger.log(`expired ${expired.length} ended stream record(s): ${expired.join(', ')}`);
    return { ended, expired };
  }

  /**
   * Deletes an ended stream's chain, key and status entries, then its record, the record only if
   * it is still the one read (a new start of the id wins). A failure half-way is retried at the
   * next sweep, since the record goes last.
   */
  private async expire(id: string, revision: number, record: StreamRecord): Promise<boolean> {
    const chain = await this.chains.get(id);
    // A chain of a record that is not live is a leftover (a failed start's); a new run writes its
    // record before its chain, so this one cannot be a newer run's.
    if (chain && this.table.get(id)?.revision === revision) await this.chains.delete(id);
    const keyName = record.keyHash ?? record.key;
    if (typeof keyName === 'string' && keyName !== '') await this.keys.delete(keyName).catch(() => undefined);
    await this.status.delete(statusKey(id, 'ingest')).catch(() => undefined);
    await this.status.delete(statusKey(id, 'delivery')).catch(() => undefined);
    if (!(await deleteRecordAt(this.bus, id, revision))) return false;
    this.table.forget(id, revision);
    this.logger.log(`streamId=${id} record expired (${record.state} since ${record.updatedAt})`);
    return true;
  }
}
