import type { StreamEventKind } from './subjects.js';

/** Body of `lm.evt.stream.<streamId>.<kind>`. */
export interface StreamEvent {
  streamId: string;
  kind: StreamEventKind;
  /** ISO time. */
  at: string;
  message?: string;
  service?: string;
  hop?: number;
  seq?: number;
  /** Kind-specific details: thumbnail blob name, detection type, error code... */
  data?: Record<string, unknown>;
}

/**
 * `data` of a `segments-dropped` event: seqs given up before any work was spent on them, so the
 * stream stays live. Delivery marks the hole in the playlist.
 */
export interface SegmentsDroppedData {
  /** `late`: past the stream's latency budget; `ingest-queue-full`: ingest's queue to the bus overflowed; `queue-full`: the bus refused the segment (LM_SEG at its per-stream limit). */
  reason: 'late' | 'ingest-queue-full' | 'queue-full';
  /** First and last seq of the dropped range (inclusive). */
  from: number;
  to: number;
  /** Segments dropped in the range (may be fewer than to - from + 1 when seqs were not all dropped). */
  count: number;
}

/** What a worker writes to the `lm_workers` bucket every few seconds. */
export interface WorkerHeartbeat {
  service: string;
  workerId: string;
  pid: number;
  host: string;
  startedAt: string;
  at: string;
  processed: number;
  failed: number;
  inFlight: number;
}
