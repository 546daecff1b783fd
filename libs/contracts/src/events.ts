import type { HopSpec } from './chain.js';
import type { ServiceEventKind, StreamEventKind } from './subjects.js';

/**
 * Body of `lm.evt.stream.<streamId>.<kind>`: the fields every kind has. `data` depends on the kind
 * (StreamEventData), as hls.js ties each event to one typed data object.
 */
export interface StreamEventHeader {
  streamId: string;
  kind: StreamEventKind;
  /** ISO time. */
  at: string;
  message?: string;
  service?: string;
  hop?: number;
  seq?: number;
}

/** `data` of `chain-ready` (a stream's first chain) and `chain-changed` (a new version of it). */
export interface ChainData {
  version: number;
  hops: HopSpec[];
}

/** `data` of `publishing`: the first segment of a publisher's session is on hop 0. */
export interface PublishingData {
  source: 'rtmp' | 'srt' | 'pull';
  /** The session's number: it grows by one each time a publisher (re)connects. */
  epoch: number;
}

/** `data` of `publish-ended`: the publisher left (or the pulled source ended). */
export interface PublishEndedData {
  source: 'rtmp' | 'srt' | 'pull';
  /** Segments of the session published on hop 0. */
  segments: number;
}

/** `data` of `segment-failed`: a message at a hop that is not a usable segment, dead-lettered at once. */
export interface SegmentFailedData {
  /** `LM_BAD_SEGMENT` (docs/errors.md). */
  code: string;
  /** The message's delivery count when it was given up (1: on its first delivery). */
  attempts?: number;
}

/** `data` of `dead-letter`: a segment given up at a hop, kept in `lm.dlq.<id>`. */
export interface DeadLetterData {
  /** The error code (docs/errors.md), e.g. `LM_MEDIA_INPUT`. */
  code: string;
  /** Deliveries it had, the failing one included. */
  attempts: number;
  /** Why no further attempt: not retryable, or out of attempts. */
  reason?: string;
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

/** `data` of `thumbnail`: a JPEG of the stream stored in `lm_blobs`. */
export interface ThumbnailData {
  /** Object name of this picture. */
  blob: string;
  /** Object name that always holds the stream's newest picture. */
  latest: string;
  /** Presentation time of the frame, seconds on the source timeline. */
  pts: number;
  width: number;
  height: number;
  bytes: number;
}

/** `data` of `detection`: one finding in a segment; a stretch past the segment's edge has no start or no end. */
export interface DetectionData {
  type: 'black' | 'freeze' | 'silence' | 'scene';
  /** Seconds on the source timeline. */
  start?: number;
  end?: number;
  /** Scene-change score (scene only). */
  score?: number;
}

/** `data` of `ended`: why the stream ended and what was thrown away. */
export interface EndedData {
  reason: 'stopped' | 'idle';
  /** Idle only: how long no segment came, and when the last activity was. */
  idleSeconds?: number;
  lastActivityAt?: string;
  /** Segments still queued in LM_SEG that were purged. */
  purgedSegments: number;
  /** The stream's last seq when known: delivery ends the playlist once it is in. */
  lastSeq?: number;
}

/** `data` of `failed`: all optional (a failure inside a start says only `message`). */
export interface FailedData {
  /** The error code (docs/errors.md), e.g. `LM_SOURCE_URL`, `LM_QUOTA`. */
  code?: string;
  problems?: string[];
  /** A platform event that failed, whether it is given up for good, after how many attempts. */
  event?: 'started' | 'stopped';
  final?: boolean;
  attempts?: number;
  /** Over a quota: which limit, and the figures. */
  limit?: string;
  current?: number;
  max?: number;
}

/** A kind that carries no data. */
export type NoData = Partial<Record<string, never>>;

/** The `data` of each kind of stream event. */
export interface StreamEventData {
  starting: NoData;
  'chain-ready': ChainData;
  'chain-changed': ChainData;
  publishing: PublishingData;
  'publish-ended': PublishEndedData;
  'segment-failed': SegmentFailedData;
  'dead-letter': DeadLetterData;
  'segments-dropped': SegmentsDroppedData;
  thumbnail: ThumbnailData;
  detection: DetectionData;
  stopping: NoData;
  ended: EndedData;
  failed: FailedData;
}

/** One kind's event: `data` is required when its type has a required field. */
export type StreamEventOf<K extends StreamEventKind> = StreamEventHeader & { kind: K } & (Partial<StreamEventData[K]> extends StreamEventData[K] ? { data?: StreamEventData[K] } : { data: StreamEventData[K] });

/** Any stream event, discriminated by `kind` (narrowing on `kind` types `data`). */
export type StreamEvent = { [K in StreamEventKind]: StreamEventOf<K> }[StreamEventKind];

/** What a producer hands to publishStreamEvent: `at` defaults to now. */
export type NewStreamEvent<K extends StreamEventKind = StreamEventKind> = K extends StreamEventKind ? Omit<StreamEventOf<K>, 'at'> & { at?: string } : never;

/**
 * Each kind's data fields with one line each, for the CLI's help and the API docs. Typed so that a
 * field added to (or removed from) a kind's data type must be described here too.
 */
export const STREAM_EVENT_FIELDS: { readonly [K in StreamEventKind]: { readonly [F in keyof Required<StreamEventData[K]>]: string } } = {
  starting: {},
  'chain-ready': { version: 'chain version', hops: 'the hops (service, params, subject)' },
  'chain-changed': { version: 'new chain version', hops: 'the hops (service, params, subject)' },
  publishing: { source: 'rtmp | srt | pull', epoch: 'publisher session number' },
  'publish-ended': { source: 'rtmp | srt | pull', segments: 'segments the session published' },
  'segment-failed': { code: 'LM_BAD_SEGMENT', attempts: 'delivery count when given up (1: at once)' },
  'dead-letter': { code: 'error code (docs/errors.md)', attempts: 'deliveries, the failing one included', reason: 'why no further attempt' },
  'segments-dropped': { reason: 'late | ingest-queue-full | queue-full', from: 'first seq dropped', to: 'last seq dropped', count: 'segments dropped' },
  thumbnail: { blob: 'object name in lm_blobs', latest: 'object name of the newest picture', pts: 'frame time, s', width: 'pixels', height: 'pixels', bytes: 'JPEG size' },
  detection: { type: 'black | freeze | silence | scene', start: 'start, s (none: began earlier)', end: 'end, s (none: goes on)', score: 'scene-change score' },
  stopping: {},
  ended: { reason: 'stopped | idle', idleSeconds: 'idle only', lastActivityAt: 'idle only, ISO time', purgedSegments: 'queued segments purged', lastSeq: 'last seq, when known' },
  failed: { code: 'error code', problems: 'what was wrong', event: 'platform event: started | stopped', final: 'given up for good', attempts: 'attempts made', limit: 'quota name', current: 'quota figure', max: 'quota limit' },
};

/** `data` of a service's `autoscaled` event: the orchestrator's autoscaler changed its replica count. */
export interface AutoscaledData {
  direction: 'up' | 'down';
  from: number;
  to: number;
  /** The lag it followed: pending + ack-pending of the service's durable consumer. */
  lag: number;
  /** ceil(lag / targetLagPerReplica), clamped to the service's min/max, before rate limits and stabilisation. */
  desired: number;
  reason: string;
}

/** The `data` of each kind of service event. */
export interface ServiceEventData {
  autoscaled: AutoscaledData;
}

/** Body of `lm.evt.service.<service>.<kind>`. */
export type ServiceEvent = { [K in ServiceEventKind]: { service: string; kind: K; at: string; message?: string; data: ServiceEventData[K] } }[ServiceEventKind];

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
  /** The worker's running estimate of processing time per segment (ms, a moving mean); absent before its first segment. */
  msPerSegment?: number;
}
