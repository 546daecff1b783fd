import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { PLAYBACK_TTL_MAX, PLAYBACK_TTL_MIN } from './playback-signature.js';
import type { SealedSecret } from './stream-key.js';
import { TOKEN_PATTERN } from './subjects.js';
import type { HopTransfer } from './transfer.js';

const TOKEN_MESSAGE = (what: string) => `${what} must be 1-64 letters, digits, '-' or '_'`;

/** One stage of a chain: a service and its per-hop parameters. */
export class StageDto {
  /** Catalogue name of the service. */
  @Matches(TOKEN_PATTERN, { message: TOKEN_MESSAGE('service') })
  service!: string;

  /** Per-hop parameters, validated against the service's parameter schema. */
  @IsOptional()
  @IsObject()
  params?: Record<string, unknown>;
}

/** Where a pulled stream comes from; without it the stream is published to ingest. */
export class SourceDto {
  /** rtmp://, rtmps://, srt://, http:// or https:// (HLS); checked again by ingest. */
  @IsString()
  @MaxLength(2048)
  url!: string;
}

/** Extra destinations for the target stream. */
export class OutputsDto {
  /** RTMP URLs the target stream is pushed to (for example a CDN's ingest). */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(4)
  @IsString({ each: true })
  @MaxLength(2048, { each: true })
  rtmp?: string[];
}

/**
 * How the stream is published. `key`: the publish key the platform gave its streamer; livemesh
 * checks its strength (STREAM_KEY_RULE, 422 LM_WEAK_STREAM_KEY) and keeps only its hash. Without
 * it livemesh generates one and hands it out once.
 */
export class PublishDto {
  @IsOptional()
  @IsString()
  @MaxLength(256)
  key?: string;
}

/** Body of POST /api/streams/:id/key (optional): the new key the platform chose; without it one is generated. */
export class RotateKeyRequest {
  @IsOptional()
  @IsString()
  @MaxLength(256)
  key?: string;
}

/** How a stream is played: public (default) or only with signed URLs (docs/security.md, "Signed playback"). */
export class PlaybackDto {
  @IsBoolean()
  signed!: boolean;

  /** How long a signed URL in the stream's view stays valid, in seconds (default 3600). */
  @IsOptional()
  @IsInt()
  @Min(PLAYBACK_TTL_MIN)
  @Max(PLAYBACK_TTL_MAX)
  ttlSeconds?: number;
}

/** Body of POST /api/streams/:id/playback-url. */
export class PlaybackUrlRequest {
  /** Default: the stream's `playback.ttlSeconds`, else 3600. */
  @IsOptional()
  @IsInt()
  @Min(PLAYBACK_TTL_MIN)
  @Max(PLAYBACK_TTL_MAX)
  ttlSeconds?: number;
}

/** Body of POST /api/streams and of `lm.evt.platform.stream.started`. */
export class StartStreamRequest {
  /** Stream id: letters, digits, '-' and '_'. */
  @Matches(TOKEN_PATTERN, { message: TOKEN_MESSAGE('id') })
  id!: string;

  /** A pipeline by name; without it (and without stages) the selectors choose. */
  @IsOptional()
  @Matches(TOKEN_PATTERN, { message: TOKEN_MESSAGE('pipeline') })
  pipeline?: string;

  /** Explicit stages, instead of a pipeline. */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(16)
  @ValidateNested({ each: true })
  @Type(() => StageDto)
  stages?: StageDto[];

  /** Per-service parameter overrides applied on top of the chosen pipeline: { watermark: { text: "hi" } }. */
  @IsOptional()
  @IsObject()
  overrides?: Record<string, Record<string, unknown>>;

  @IsOptional()
  @ValidateNested()
  @Type(() => SourceDto)
  source?: SourceDto;

  /** What pipeline selectors match on, e.g. { category: "game", height: "1080" }. */
  @IsOptional()
  @IsObject()
  attributes?: Record<string, string>;

  @IsOptional()
  @ValidateNested()
  @Type(() => OutputsDto)
  outputs?: OutputsDto;

  /** Default: the pipeline's `fuse` (true). False runs every stage as its own hop. */
  @IsOptional()
  @IsBoolean()
  fuse?: boolean;

  /** The platform's own publish key; never stored (only its hash), never echoed. */
  @IsOptional()
  @ValidateNested()
  @Type(() => PublishDto)
  publish?: PublishDto;

  /** `{ signed: true }`: the playlist and segments need a signed URL. Unset: public. */
  @IsOptional()
  @ValidateNested()
  @Type(() => PlaybackDto)
  playback?: PlaybackDto;
}

/** Body of `lm.evt.platform.stream.stopped`. */
export class StopStreamRequest {
  @Matches(TOKEN_PATTERN, { message: TOKEN_MESSAGE('id') })
  id!: string;
}

/** Body of PATCH /api/streams/:id/chain: the new list of stages. */
export class ChangeChainRequest {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(16)
  @ValidateNested({ each: true })
  @Type(() => StageDto)
  stages!: StageDto[];

  /** Default true: adjacent fusable stages run as one hop. */
  @IsOptional()
  @IsBoolean()
  fuse?: boolean;
}

export type StreamState = 'starting' | 'live' | 'stopping' | 'ended' | 'failed';

/** What the orchestrator keeps per stream in the `lm_streams` bucket. */
export interface StreamRecord {
  id: string;
  state: StreamState;
  /** SHA-256 (hex) of the publish key; the key itself is never stored (docs/security.md, "Stream keys"). */
  keyHash: string;
  /**
   * The key sealed under the ingest secret, for ingest's SRT listener (the key is the SRT
   * passphrase); only for a published stream while SRT is on (SRT_PORT_RANGE).
   */
  srtPassphrase?: SealedSecret;
  /** A record written before keys were hashed held the plaintext here; the orchestrator rewrites it at boot. */
  key?: string;
  /** The start request, without `publish.key`. */
  request: StartStreamRequest;
  chainVersion: number;
  createdAt: string;
  updatedAt: string;
  errors: { at: string; message: string; service?: string }[];
}

/** Response of POST /api/streams and GET /api/streams/:id. */
export interface StreamView {
  id: string;
  state: StreamState;
  chain: {
    version: number;
    hops: { service: string; params: Record<string, unknown>; subject: string; fusedThrough?: number; fusedInto?: number; handOff?: 'mezzanine'; transfer?: HopTransfer }[];
  };
  /**
   * Where to publish. With `key` (only in the answer that creates the stream or rotates its key):
   * the full URLs. Everywhere else the key is left out: `rtmp` is the application URL (append
   * `/<key>`), `srt` the listener (append `?streamid=<key>&passphrase=<key>`). `srt` only while
   * ingest listens for SRT for this stream (SRT_PORT_RANGE set).
   */
  publish: { rtmp: string; srt?: string; key?: string };
  /** `hls`: for a signed stream, a signed URL valid until `expiresAt` (docs/api.md). */
  playback: { hls: string; signed?: boolean; expiresAt?: string };
  errors: StreamRecord['errors'];
  /** Ingest-to-playlist latency as delivery measures it, once it has listed a segment. */
  latency?: DeliveryStatus['latency'];
}

/** Body of `lm.keys.issued.<streamId>`: the key livemesh generated for a stream a platform event started. */
export interface IssuedStreamKey {
  streamId: string;
  key: string;
  /** The RTMP URL with the key. */
  rtmp: string;
  issuedAt: string;
}

/** `lm_status[<streamId>.ingest]`: written by ingest while it listens for the stream. */
export interface IngestStatus {
  streamId: string;
  /** The SRT listener of the stream: publish with srt://<host>:<port>?streamid=<key>&passphrase=<key>. */
  srt?: { port: number };
  updatedAt: string;
}

/** `lm_status[<streamId>.delivery]`: written by delivery as segments are listed. */
export interface DeliveryStatus {
  streamId: string;
  /** Ingest cutting a segment -> the segment listed in its playlist, over the last segments. */
  latency: { ingestToPlaylistMs: { p50: number; last: number; samples: number } };
  updatedAt: string;
}
