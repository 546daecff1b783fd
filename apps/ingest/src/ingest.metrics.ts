import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { REFUSAL_REASONS, type RefusalReason } from './publish.policy.js';

/** Why a segment never reached hop 0 (`livemesh_ingest_segments_dropped_total{reason}`). */
export const DROP_REASONS = ['ingest-queue-full', 'queue-full', 'no-chain', 'publish-failed', 'shutdown'] as const;
export type DropCounterReason = (typeof DROP_REASONS)[number];

/**
 * Ingest's Prometheus metrics, in a registry of its own so a second app in the same process
 * (the e2e tests) does not collide. No stream id labels: their number is unbounded.
 */
@Injectable()
export class IngestMetrics {
  readonly registry = new Registry();

  readonly segmentsPublished = new Counter({
    name: 'livemesh_ingest_segments_published_total',
    help: 'Segments published to the first hop of a chain',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly bytesPublished = new Counter({
    name: 'livemesh_ingest_segment_bytes_total',
    help: 'Bytes of MPEG-TS published to the first hop of a chain',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly segmentsDropped = new Counter({
    name: 'livemesh_ingest_segments_dropped_total',
    help: 'Segments dropped: ingest-queue-full (queue to the bus overflowed), queue-full (LM_SEG per-stream limit), no-chain, publish-failed, shutdown',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly queueSegments = this.gauge('queue_segments', 'Segments waiting for the bus, all streams together (each stream is bounded by INGEST_QUEUE_SEGMENTS)');
  readonly queueBytes = this.gauge('queue_bytes', 'Bytes of segments waiting for the bus, held in memory, all streams together (each stream is bounded by INGEST_QUEUE_BYTES)');
  readonly queuePeakSegments = this.gauge('queue_peak_segments', 'Longest queue to the bus any one stream has had since ingest started');
  readonly queuePeakBytes = this.gauge('queue_peak_bytes', 'Most bytes any one stream has had waiting for the bus since ingest started');

  private peak = { segments: 0, bytes: 0 };

  readonly publishRefusals = new Counter({
    name: 'livemesh_ingest_publish_refusals_total',
    help: 'RTMP publishes refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly segmenterRestarts = new Counter({
    name: 'livemesh_ingest_segmenter_restarts_total',
    help: 'Segmenter (ffmpeg) runs restarted after they ended while the source was still wanted',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly reencodeSwitches = new Counter({
    name: 'livemesh_ingest_reencode_switches_total',
    help: 'Streams switched to re-encoding because their source GOPs were too long to cut into segments',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'livemesh_ingest_' });
    // Every reason shows up as 0 from the start, so a dashboard can rate() it.
    for (const reason of REFUSAL_REASONS) this.publishRefusals.inc({ reason }, 0);
    for (const reason of DROP_REASONS) this.segmentsDropped.inc({ reason }, 0);
  }

  /** A stream's queue changed by `dSegments`/`dBytes` and now holds `segments`/`bytes`. */
  queueChanged(dSegments: number, dBytes: number, segments: number, bytes: number): void {
    this.queueSegments.inc(dSegments);
    this.queueBytes.inc(dBytes);
    if (segments > this.peak.segments) this.queuePeakSegments.set((this.peak.segments = segments));
    if (bytes > this.peak.bytes) this.queuePeakBytes.set((this.peak.bytes = bytes));
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name: `livemesh_ingest_${name}`, help, registers: [this.registry] });
  }

  refused(reason: RefusalReason): void {
    this.publishRefusals.inc({ reason });
  }
}
