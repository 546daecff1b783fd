import { Injectable, Logger } from '@nestjs/common';
import { DeliveryMetrics } from './delivery.metrics.js';

/** Why a message on `lm.out` was refused: it is hostile or broken, not a segment a stream lost. */
export type RefusalReason = 'malformed' | 'unreadable' | 'header-too-large' | 'payload-too-large' | 'seq-too-far' | 'rendition-limit';

/** Stream/reason pairs remembered for log-once; a flood of forged stream ids only makes it log again. */
const MAX_REMEMBERED = 1_024;

/**
 * Counts every refused message (`livemesh_delivery_segments_dropped_total{reason}`) and logs the
 * first of each reason per stream only: the same bad message published (or replayed from LM_OUT
 * after a restart) a thousand times must not flood the log.
 */
@Injectable()
export class Refusals {
  private readonly logger = new Logger('DeliveryRefusals');
  private readonly logged = new Set<string>();

  constructor(private readonly metrics: DeliveryMetrics) {}

  refuse(streamId: string | undefined, reason: RefusalReason, detail: string): void {
    this.metrics.dropped.inc({ reason });
    const key = `${streamId ?? '?'}\n${reason}`;
    if (this.logged.has(key)) return;
    if (this.logged.size >= MAX_REMEMBERED) this.logged.clear();
    this.logged.add(key);
    this.logger.warn(`stream ${streamId ?? '(unknown)'}: refused ${reason}: ${detail} (further ${reason} messages of this stream are only counted)`);
  }

  /** A stream left memory: a later session of its id logs its own refusals. */
  forget(streamId: string): void {
    for (const key of this.logged) if (key.startsWith(`${streamId}\n`)) this.logged.delete(key);
  }
}
