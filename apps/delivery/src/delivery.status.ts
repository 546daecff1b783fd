import { Injectable, Logger } from '@nestjs/common';
import { BUCKETS, statusKey, type DeliveryStatus, type IngestStatus } from '@livemesh/contracts';
import { Bus, JsonStore } from '@livemesh/bus';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsRegistry } from './hls.registry.js';

/** Samples the median is taken over. */
const SAMPLES = 30;
/** A stream's status is written at most this often. */
const WRITE_EVERY_MS = 2000;

interface Latency {
  samples: number[];
  writtenAt: number;
  writing?: Promise<void>;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2);
}

/**
 * Ingest-to-playlist latency per stream (ingest cut -> listed in a playlist): a gauge on /metrics and
 * `lm_status[<streamId>.delivery]`, which the orchestrator shows in the stream's status.
 */
@Injectable()
export class DeliveryStatusReporter {
  private readonly logger = new Logger(DeliveryStatusReporter.name);
  private readonly store: JsonStore<IngestStatus | DeliveryStatus>;
  private readonly latency = new Map<string, Latency>();

  constructor(
    bus: Bus,
    private readonly registry: HlsRegistry,
    private readonly metrics: DeliveryMetrics,
  ) {
    this.store = bus.store(BUCKETS.status);
    // Registered before any provider's bootstrap can start the output consumer.
    this.listen();
  }

  private listen(): void {
    this.registry.onListed((streamId, _rendition, entry, replayed) => {
      if (!replayed) this.sample(streamId, Math.max(0, entry.availableAt - entry.ingestTime));
    });
    this.registry.onStreamGone((streamId, why) => {
      if (why !== 'dropped') return;
      this.latency.delete(streamId);
      this.metrics.streamIngestToPlaylist.remove({ stream: streamId, stat: 'last' });
      this.metrics.streamIngestToPlaylist.remove({ stream: streamId, stat: 'p50' });
      void this.store.delete(statusKey(streamId, 'delivery')).catch(() => undefined);
    });
  }

  private sample(streamId: string, ms: number): void {
    let l = this.latency.get(streamId);
    if (!l) {
      l = { samples: [], writtenAt: 0 };
      this.latency.set(streamId, l);
    }
    l.samples.push(ms);
    if (l.samples.length > SAMPLES) l.samples.shift();
    const p50 = median(l.samples);
    this.metrics.streamIngestToPlaylist.set({ stream: streamId, stat: 'last' }, ms / 1000);
    this.metrics.streamIngestToPlaylist.set({ stream: streamId, stat: 'p50' }, p50 / 1000);
    const now = Date.now();
    if (now - l.writtenAt < WRITE_EVERY_MS || l.writing) return;
    l.writtenAt = now;
    const status: DeliveryStatus = {
      streamId,
      latency: { ingestToPlaylistMs: { p50, last: ms, samples: l.samples.length } },
      updatedAt: new Date(now).toISOString(),
    };
    l.writing = this.store
      .put(statusKey(streamId, 'delivery'), status)
      .then(() => undefined)
      .catch((e: Error) => this.logger.warn(`stream ${streamId}: latency status not written: ${e.message}`))
      .finally(() => (l.writing = undefined));
  }
}
