import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Delivery's Prometheus metrics. Its own registry (not prom-client's global one) so several apps
 * can live in one process, as they do in the e2e tests. No stream id labels: they are unbounded.
 */
@Injectable()
export class DeliveryMetrics {
  readonly registry = new Registry();

  readonly delivered = new Counter({
    name: 'livemesh_delivery_segments_delivered_total',
    help: 'Segments that became available in a playlist.',
    registers: [this.registry],
  });

  readonly skipped = new Counter({
    name: 'livemesh_delivery_segments_skipped_total',
    help: 'Missing seqs given up on after the gap wait (their slot stays empty, marked by a discontinuity).',
    registers: [this.registry],
  });

  readonly reorderWaits = new Counter({
    name: 'livemesh_delivery_reorder_waits_total',
    help: 'Segments that arrived ahead of a missing seq and had to wait in the reorder buffer.',
    registers: [this.registry],
  });

  readonly dropped = new Counter({
    name: 'livemesh_delivery_segments_dropped_total',
    help: 'Segments not listed: duplicate, late (after their seq was skipped), after the end, or malformed.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly ingestToPlaylist = new Histogram({
    name: 'livemesh_delivery_ingest_to_playlist_seconds',
    help: 'From ingest cutting a segment to the segment being listed in its playlist.',
    buckets: [0.5, 1, 2, 3, 4, 6, 8, 10, 15, 20, 30, 60],
    registers: [this.registry],
  });

  readonly pushedSegments = new Counter({
    name: 'livemesh_delivery_rtmp_pushed_segments_total',
    help: 'Segments written to RTMP push-out targets.',
    registers: [this.registry],
  });

  readonly pushFailures = new Counter({
    name: 'livemesh_delivery_rtmp_push_failures_total',
    help: 'RTMP push-out ffmpeg runs that ended before their stream did (each is restarted).',
    registers: [this.registry],
  });

  /**
   * Per stream, so an operator sees which stream is slow. The label set is bounded by the streams
   * held in memory: a stream's series is removed when delivery forgets it.
   */
  readonly streamIngestToPlaylist = new Gauge({
    name: 'livemesh_delivery_stream_ingest_to_playlist_seconds',
    help: 'Ingest-to-playlist latency of a stream (ingest cut -> listed), last segment and median of the recent ones.',
    labelNames: ['stream', 'stat'] as const,
    registers: [this.registry],
  });

  readonly streams = new Gauge({
    name: 'livemesh_delivery_streams',
    help: 'Streams held in memory.',
    registers: [this.registry],
  });

  readonly payloadReads = new Counter({
    name: 'livemesh_delivery_payload_reads_total',
    help: 'Segment payloads (inline or claim-checked blob) read off LM_OUT by the output consumer.',
    registers: [this.registry],
  });

  readonly checkpointSkipped = new Counter({
    name: 'livemesh_delivery_checkpoint_skipped_total',
    help: 'LM_OUT messages passed over at boot because a restored checkpoint already held them (payload not read).',
    registers: [this.registry],
  });

  readonly resumedAfter = new Gauge({
    name: 'livemesh_delivery_resumed_after_seq',
    help: 'LM_OUT sequence this delivery started reading after, from its checkpoint; -1 when it read all LM_OUT retains.',
    registers: [this.registry],
  });

  readonly restoredStreams = new Gauge({
    name: 'livemesh_delivery_restored_streams',
    help: 'Streams restored from checkpoints at boot.',
    registers: [this.registry],
  });

  readonly checkpointWrites = new Counter({
    name: 'livemesh_delivery_checkpoint_writes_total',
    help: 'Checkpoint rounds written to lm_delivery, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly consumerReopens = new Counter({
    name: 'livemesh_delivery_consumer_reopens_total',
    help: 'Times a consumer of delivery was opened again (after a failure or a reconnect to NATS).',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
