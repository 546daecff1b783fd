/**
 * Every NATS subject, stream, consumer and bucket name in livemesh is built here and nowhere else.
 * A token is one dot-free piece of a subject; ids that become tokens are checked with
 * {@link assertToken} before they are used, so a stream id can never widen a subscription.
 */
import { InvalidNameError } from './errors.js';

/** Letters, digits, '-' and '_' only, 1-64 chars: safe as a subject token, a KV key and a path segment. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_PATTERN.test(value);
}

export function assertToken(kind: string, value: unknown): string {
  if (!isToken(value)) {
    throw new InvalidNameError(
      `${kind} ${JSON.stringify(value)} is not a valid name: use 1-64 letters, digits, '-' or '_'`,
    );
  }
  return value;
}

/** JetStream streams. */
export const STREAMS = {
  /** lm.seg.> : segments waiting for a hop; work-queue retention (a stored segment is someone's work). */
  segments: 'LM_SEG',
  /** lm.out.> : finished segments; limits retention, max age = time-shift window. */
  output: 'LM_OUT',
  /** lm.evt.> : platform events in, status events out. */
  events: 'LM_EVT',
  /** lm.dlq.> : segments that ran out of attempts. */
  deadLetter: 'LM_DLQ',
  /**
   * `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.LM_SEG.*`: the server's word that a segment reached
   * its service consumer's max_deliver (its worker died on every attempt). Stored, so the
   * orchestrator dead-letters it even when the advisory fired while it was down.
   */
  segmentFaults: 'LM_SEG_FAULTS',
  /**
   * `lm.keys.issued.<streamId>`: the publish key livemesh generated for a stream a platform event
   * started, kept minutes for the platform to read (docs/api.md). Outside `lm.evt.>` on purpose:
   * only the orchestrator publishes here and only the platform's credential reads it.
   */
  keys: 'LM_KEYS',
} as const;

/** KV buckets and the object store. */
export const BUCKETS = {
  /** streamId -> ChainSpec */
  chains: 'lm_chains',
  /** streamId -> StreamRecord (session state, key, counters) */
  streams: 'lm_streams',
  /** streamId -> IngestCursor: ingest's next seq and timeline position, kept across publisher reconnects and restarts */
  ingest: 'lm_ingest',
  /** stream key -> streamId (ingest authorises publishes with it) */
  keys: 'lm_keys',
  /** `service.<name>` -> ServiceSpec, `pipeline.<name>` -> PipelineSpec, `scale.<name>` -> an operator's replica count */
  catalogue: 'lm_catalogue',
  /** `<service>.<workerId>` -> WorkerHeartbeat, with a TTL */
  workers: 'lm_workers',
  /** `<streamId>.<app>` -> what a data-plane app reports about a stream (see statusKey): ingest's SRT listener, delivery's latency */
  status: 'lm_status',
  /**
   * `<streamId>.<hop>.<rendition>` -> what the latest segment a stage finished at that hop left
   * for the next one (see carryKey), e.g. the audio frames an encoder needs across a join. One
   * value per stream and hop, overwritten segment by segment; gone 10 minutes after the last.
   */
  carry: 'lm_carry',
  /**
   * `stream.<streamId>` -> DeliveryStreamCheckpoint, `position` -> DeliveryPosition: where delivery's
   * playlists stood, so a restarted delivery goes on from there instead of reading LM_OUT again
   */
  delivery: 'lm_delivery',
  /** object store for segments above the inline limit (claim check) and thumbnails */
  blobs: 'lm_blobs',
  /**
   * object store for claim-checked output segments (`out/<msgId>`, see blobNames.output): its TTL
   * follows LM_OUT's OUTPUT_RETENTION_SECONDS, so a blob goes with the message that names it.
   */
  outputBlobs: 'lm_out_blobs',
  /** token id -> ApiTokenRecord: the API's bearer tokens, their secrets only as SHA-256 (docs/security.md) */
  tokens: 'lm_tokens',
} as const;

/** Blob names, and which object store holds each (the name says it, so any reader finds it). */
export const blobNames = {
  /** `seg/<msgId>`: a hop's claim-checked input segment (in `lm_blobs`). */
  segment(msgId: string): string {
    return `seg/${msgId}`;
  },
  /** `out/<msgId>`: a claim-checked finished segment (in `lm_out_blobs`, gone with its LM_OUT message). */
  output(msgId: string): string {
    return `out/${msgId}`;
  },
  /** The object store of a blob: `out/...` in lm_out_blobs, anything else (segments, thumbnails, older `seg/out.*`) in lm_blobs. */
  storeOf(name: string): typeof BUCKETS.blobs | typeof BUCKETS.outputBlobs {
    return name.startsWith('out/') ? BUCKETS.outputBlobs : BUCKETS.blobs;
  },
} as const;

export const subjects = {
  /** `lm.seg.<service>.<streamId>.<hop>`: a segment waiting for hop N of a stream. */
  segment(service: string, streamId: string, hop: number): string {
    return `lm.seg.${assertToken('service', service)}.${assertToken('stream id', streamId)}.${hopToken(hop)}`;
  },
  /** `lm.seg.<service>.>`: filter of a service's durable consumer, shared by all its replicas. */
  serviceFilter(service: string): string {
    return `lm.seg.${assertToken('service', service)}.>`;
  },
  /** `lm.seg.*.<streamId>.*`: every hop's queue of one stream (what a stopped stream's purge removes). */
  streamSegments(streamId: string): string {
    return `lm.seg.*.${assertToken('stream id', streamId)}.*`;
  },
  /** `lm.seg.>`: everything the LM_SEG stream stores. */
  allSegments: 'lm.seg.>',
  /** `lm.out.<streamId>.<rendition>`: finished segments of one rendition. */
  output(streamId: string, rendition: string): string {
    return `lm.out.${assertToken('stream id', streamId)}.${assertToken('rendition', rendition)}`;
  },
  /** `lm.out.<streamId>.>`: every rendition of one stream. */
  streamOutput(streamId: string): string {
    return `lm.out.${assertToken('stream id', streamId)}.>`;
  },
  /** `lm.out.>` */
  allOutput: 'lm.out.>',
  /** `lm.evt.platform.stream.started`: a platform says a stream starts (body: StartStreamRequest). */
  platformStarted: 'lm.evt.platform.stream.started',
  /** `lm.evt.platform.stream.stopped`: a platform says a stream stopped (body: StopStreamRequest). */
  platformStopped: 'lm.evt.platform.stream.stopped',
  /** `lm.evt.platform.>` */
  platformAll: 'lm.evt.platform.>',
  /** `lm.evt.stream.<streamId>.<kind>`: status out (body: StreamEvent). */
  streamEvent(streamId: string, kind: StreamEventKind): string {
    return `lm.evt.stream.${assertToken('stream id', streamId)}.${kind}`;
  },
  /** `lm.evt.stream.<streamId>.>` or, without an id, `lm.evt.stream.>` */
  streamEvents(streamId?: string): string {
    return streamId === undefined ? 'lm.evt.stream.>' : `lm.evt.stream.${assertToken('stream id', streamId)}.>`;
  },
  /** `lm.evt.stream.*.<kind>`: one kind of status event of every stream (e.g. every `ended`). */
  streamEventsOfKind(kind: StreamEventKind): string {
    return `lm.evt.stream.*.${kind}`;
  },
  /** `lm.evt.service.<service>.<kind>`: a service-level event, e.g. an autoscaling decision (body: ServiceEvent). */
  serviceEvent(service: string, kind: ServiceEventKind): string {
    return `lm.evt.service.${assertToken('service', service)}.${kind}`;
  },
  /** `lm.evt.service.<service>.>` or, without a name, `lm.evt.service.>` */
  serviceEvents(service?: string): string {
    return service === undefined ? 'lm.evt.service.>' : `lm.evt.service.${assertToken('service', service)}.>`;
  },
  /** `lm.evt.>` */
  allEvents: 'lm.evt.>',
  /** `lm.keys.issued.<streamId>`: a generated publish key for a stream started by a platform event (body: IssuedStreamKey). */
  keyIssued(streamId: string): string {
    return `lm.keys.issued.${assertToken('stream id', streamId)}`;
  },
  /** `lm.keys.>`: everything the LM_KEYS stream stores. */
  allKeys: 'lm.keys.>',
  /** `lm.dlq.<service>.<streamId>`: a segment that ran out of attempts at a service. */
  deadLetter(service: string, streamId: string): string {
    return `lm.dlq.${assertToken('service', service)}.${assertToken('stream id', streamId)}`;
  },
  /** `lm.dlq.>` */
  allDeadLetter: 'lm.dlq.>',
  /**
   * `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>` (core NATS, sent by the server):
   * a message of `stream` reached its consumer's max_deliver. Without a consumer: every consumer's.
   */
  maxDeliveriesAdvisory(stream: string, consumer?: string): string {
    return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${assertToken('stream', stream)}.${consumer === undefined ? '*' : assertToken('consumer', consumer)}`;
  },
} as const;

/** Key in the `lm_status` bucket: `<streamId>.<app>`, one writer per key. */
export function statusKey(streamId: string, app: 'ingest' | 'delivery'): string {
  return `${assertToken('stream id', streamId)}.${app}`;
}

/** Key in the `lm_carry` bucket: what a stream's latest segment at one hop and rendition left for the next. */
export function carryKey(streamId: string, hop: number, rendition: string): string {
  if (!Number.isSafeInteger(hop) || hop < 0) throw new InvalidNameError(`carry key: hop must be an integer >= 0, got ${hop}`);
  return `${assertToken('stream id', streamId)}.${hop}.${assertToken('rendition', rendition)}`;
}

/** Durable consumer names. */
export const consumers = {
  /** The one durable pull consumer of a service; every replica pulls from it. */
  service(service: string): string {
    return `svc_${assertToken('service', service)}`;
  },
  /** The orchestrator's durable consumer of platform events. */
  platformEvents: 'orchestrator_platform',
  /** The orchestrator's durable consumer of status events, to keep each stream's recent errors. */
  streamErrors: 'orchestrator_stream_errors',
  /** Delivery's durable consumer of output segments. */
  delivery: 'delivery',
  /** The orchestrator's durable consumer of LM_SEG_FAULTS (segments that reached max_deliver). */
  segmentFaults: 'orchestrator_segment_faults',
} as const;

/** The service whose durable consumer `name` is (`svc_<service>`); undefined for any other name. */
export function serviceOfConsumer(name: string): string | undefined {
  if (!name.startsWith('svc_')) return undefined;
  const service = name.slice('svc_'.length);
  return isToken(service) ? service : undefined;
}

function hopToken(hop: number): string {
  if (!Number.isInteger(hop) || hop < 0 || hop > 999) {
    throw new InvalidNameError(`hop ${hop} is not an integer from 0 to 999`);
  }
  return String(hop);
}

/** Parses `lm.seg.<service>.<streamId>.<hop>`; undefined when the subject has another shape. */
export function parseSegmentSubject(subject: string): { service: string; streamId: string; hop: number } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 5 || parts[0] !== 'lm' || parts[1] !== 'seg') return undefined;
  const [, , service, streamId, hop] = parts as [string, string, string, string, string];
  if (!isToken(service) || !isToken(streamId) || !/^\d{1,3}$/.test(hop)) return undefined;
  return { service, streamId, hop: Number(hop) };
}

/** Parses `lm.out.<streamId>.<rendition>`. */
export function parseOutputSubject(subject: string): { streamId: string; rendition: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'lm' || parts[1] !== 'out') return undefined;
  const [, , streamId, rendition] = parts as [string, string, string, string];
  if (!isToken(streamId) || !isToken(rendition)) return undefined;
  return { streamId, rendition };
}

/** Kinds of status event published on `lm.evt.stream.<id>.<kind>`. */
export const STREAM_EVENT_KINDS = [
  'starting',
  'chain-ready',
  'chain-changed',
  'publishing',
  'publish-ended',
  'segment-failed',
  'dead-letter',
  'segments-dropped',
  'thumbnail',
  'detection',
  'stopping',
  'ended',
  'failed',
] as const;
export type StreamEventKind = (typeof STREAM_EVENT_KINDS)[number];

/** Kinds of service-level event published on `lm.evt.service.<service>.<kind>`. */
export const SERVICE_EVENT_KINDS = ['autoscaled'] as const;
export type ServiceEventKind = (typeof SERVICE_EVENT_KINDS)[number];
