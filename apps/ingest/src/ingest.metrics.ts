import { Injectable } from '@nestjs/common';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { REFUSAL_REASONS, type RefusalReason } from './publish.policy.js';

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
    help: 'Segments given up after repeated publish failures or without a chain',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

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
  }

  refused(reason: RefusalReason): void {
    this.publishRefusals.inc({ reason });
  }
}
