import { IsIn, IsInt, IsNumber, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { TOKEN_PATTERN } from './subjects.js';

/**
 * Header names of a segment message (`lm.seg.*`, `lm.out.*`, `lm.dlq.*`). The payload is the
 * MPEG-TS bytes, or empty when `Lm-Blob` names an object in the `lm_blobs` or, for `out/...`,
 * the `lm_out_blobs` store (claim check; blobNames.storeOf).
 */
export const SEGMENT_HEADERS = {
  /** `<streamId>.<hop>.<seq>.<rendition>`: JetStream drops a second publish of the same id. */
  msgId: 'Nats-Msg-Id',
  streamId: 'Lm-Stream-Id',
  seq: 'Lm-Seq',
  hop: 'Lm-Hop',
  rendition: 'Lm-Rendition',
  /** Presentation time of the first frame, seconds on the source timeline. */
  pts: 'Lm-Pts',
  /** Seconds. */
  duration: 'Lm-Duration',
  /** Wall clock (ms since epoch) when ingest finished cutting the segment: ingest-to-playlist latency. */
  ingestTime: 'Lm-Ingest-Time',
  /** Timeline epoch: increases when the source timeline truly restarts (delivery marks a discontinuity). */
  epoch: 'Lm-Epoch',
  /** Chain version the segment was routed with. */
  chainVersion: 'Lm-Chain-Version',
  /** Object-store name when the payload is not inline. */
  blob: 'Lm-Blob',
  /** JSON object: what the previous hop passes on to the next ("transfer parameters"). */
  transfer: 'Lm-Transfer',
  /** W3C trace context. */
  traceparent: 'traceparent',
  /** On dead letters: why the segment was given up. */
  error: 'Lm-Error',
  /** On dead letters and retries: which service failed. */
  service: 'Lm-Service',
  /**
   * On `lm.out.*` only, with an empty payload: this seq of the stream will not come (a GapReason).
   * Carries the headers and the Nats-Msg-Id the real output would have had.
   */
  gap: 'Lm-Gap',
} as const;

/** Why a gap marker says a seq will not come: `late` means it could no longer make its latency budget. */
export const GAP_REASONS = ['late'] as const;
export type GapReason = (typeof GAP_REASONS)[number];

/** Everything about a segment except its bytes; validated whenever it is read off the bus. */
export class SegmentMeta {
  @Matches(TOKEN_PATTERN)
  streamId!: string;

  @IsInt()
  @Min(0)
  seq!: number;

  @IsInt()
  @Min(0)
  @Max(999)
  hop!: number;

  @Matches(TOKEN_PATTERN)
  rendition!: string;

  @IsNumber()
  @Min(0)
  pts!: number;

  @IsNumber()
  @Min(0)
  @Max(60)
  duration!: number;

  @IsInt()
  @Min(0)
  ingestTime!: number;

  @IsInt()
  @Min(0)
  epoch!: number;

  @IsInt()
  @Min(0)
  chainVersion!: number;

  @IsOptional()
  @IsString()
  @MaxLength(256)
  blob?: string;

  @IsOptional()
  @IsObject()
  transfer?: Record<string, unknown>;

  @IsOptional()
  @IsString()
  @MaxLength(128)
  traceparent?: string;

  /** Set on a gap marker (SEGMENT_HEADERS.gap): no bytes, the seq will not come. */
  @IsOptional()
  @IsIn(GAP_REASONS)
  gap?: GapReason;
}

/** The id JetStream deduplicates on. */
export function segmentMsgId(meta: Pick<SegmentMeta, 'streamId' | 'hop' | 'seq' | 'rendition'>, stage: 'seg' | 'out' = 'seg'): string {
  return `${stage}.${meta.streamId}.${meta.hop}.${meta.seq}.${meta.rendition}`;
}

/** A segment in memory. */
export interface Segment {
  meta: SegmentMeta;
  data: Uint8Array;
}

export const DEFAULT_RENDITION = 'main';

/** Media kinds a service consumes. */
export const INPUT_KINDS = ['segments', 'frames'] as const;
export type InputKind = (typeof INPUT_KINDS)[number];
