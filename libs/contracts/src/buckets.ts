import type { ApiTokenRecord } from './api-auth.js';
import type { ChainSpec } from './chain.js';
import type { WorkerHeartbeat } from './events.js';
import type { PipelineSpec } from './pipeline.js';
import type { ServiceSpec } from './service.js';
import type { DeliveryStatus, IngestStatus, StreamRecord } from './stream.js';
import { BUCKETS } from './subjects.js';

/** `lm_keys[<sha256 of the stream key, hex>]`: the stream a publish key belongs to. */
export interface StreamKeyEntry {
  streamId: string;
}

/** `lm_catalogue[scale.<name>]`: an operator's `POST /api/services/:name/scale`, restored after a restart. */
export interface ScaleRecord {
  service: string;
  replicas: number;
  updatedAt: string;
}

/** `lm_catalogue`: `service.<name>`, `pipeline.<name>` or `scale.<name>` (the key's prefix says which). */
export type CatalogueValue = ServiceSpec | PipelineSpec | ScaleRecord;

/**
 * Where a stream's segment numbering and timeline stand. Persisted in `lm_ingest` under the stream
 * id, written after every published segment: seq keeps counting and the output timeline keeps
 * rising across publisher reconnects and ingest restarts, so delivery sees one sequence per stream.
 */
export interface IngestCursor {
  streamId: string;
  /** seq of the next segment. */
  nextSeq: number;
  /** Timeline epoch of the last published segment. */
  epoch: number;
  /** pts + duration of the last published segment on the output timeline (seconds), null before the first. */
  lastPtsEnd: number | null;
  /**
   * Where the last published segment ended on the source's own clock (seconds), null when unknown.
   * A new segmenter run whose source starts here again is the same timeline going on.
   */
  sourceEnd?: number | null;
  /**
   * Input bitrate of the last published segment, kb/s (its bytes * 8 / its duration / 1000); absent
   * in cursors written before it existed and when the segment had no duration.
   */
  inputKbps?: number;
  updatedAt: string;
}

/** One listed segment as a delivery checkpoint keeps it: everything but its bytes (read back from LM_OUT by `ref`). */
export interface CheckpointEntry {
  seq: number;
  duration: number;
  pts: number;
  ingestTime: number;
  epoch: number;
  /** LM_OUT sequence of the message holding the bytes. */
  ref?: number;
  /** Size of the bytes (for EXT-X-STREAM-INF bandwidth). */
  bytes: number;
  width?: number;
  height?: number;
  msn: number;
  discontinuity: boolean;
  programDateTime: number;
  availableAt: number;
  discontinuitiesBefore: number;
}

/** One rendition's playlist in a delivery checkpoint (see apps/delivery hls.playlist.ts for each field's meaning). */
export interface PlaylistCheckpoint {
  /** The live window, oldest first. */
  entries: CheckpointEntry[];
  /** The time-shift index older than the window, oldest first (the window is not repeated). */
  archive: CheckpointEntry[];
  nextSeq?: number;
  mediaSequence: number;
  discontinuitySequence: number;
  discontinuities: number;
  targetDuration: number;
  skipPending: boolean;
  anchor?: { epoch: number; pts: number; wall: number };
  gaps: number[];
  skippedRanges: { from: number; to: number; marked?: true }[];
  endRequestedAt?: number;
  lastSeq?: number;
  ended: boolean;
}

/**
 * `lm_delivery[stream.<streamId>]`: where a stream's playlists stood when delivery had handled
 * LM_OUT up to `resumeAfter` (segments still waiting in a reorder buffer are not in it, so
 * `resumeAfter` stays before the first of them). Written by any delivery replica: each value is
 * consistent in itself, and a replica restoring it reads the stream's messages after `resumeAfter`.
 */
export interface DeliveryStreamCheckpoint {
  kind: 'stream';
  streamId: string;
  resumeAfter: number;
  lastIngestTime: number;
  endRequested?: { lastSeq?: number; at: number };
  endedAt?: number;
  pendingGaps: number[];
  renditions: Record<string, PlaylistCheckpoint>;
  takenAt: string;
}

/** `lm_delivery[position]`: every stream delivery held was checkpointed up to `lastSeq` of LM_OUT. */
export interface DeliveryPosition {
  kind: 'position';
  lastSeq: number;
  takenAt: string;
}

/**
 * What each JSON KV bucket holds: `bus.store(BUCKETS.chains)` is a store of ChainSpec, so no caller
 * names (or asserts) the type. `lm_carry` is binary (CarryStore) and `lm_blobs` an object store, so
 * neither is here.
 */
export interface BucketValues {
  [BUCKETS.chains]: ChainSpec;
  [BUCKETS.streams]: StreamRecord;
  [BUCKETS.ingest]: IngestCursor;
  [BUCKETS.keys]: StreamKeyEntry;
  [BUCKETS.catalogue]: CatalogueValue;
  [BUCKETS.workers]: WorkerHeartbeat;
  [BUCKETS.status]: IngestStatus | DeliveryStatus;
  [BUCKETS.delivery]: DeliveryStreamCheckpoint | DeliveryPosition;
  [BUCKETS.tokens]: ApiTokenRecord;
}

/** A JSON KV bucket's name. */
export type BucketName = keyof BucketValues;

/** The type of the values in `bucket`. */
export type BucketValue<B extends BucketName> = BucketValues[B];
