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
