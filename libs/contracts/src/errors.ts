/**
 * Named errors with a stable `code`. docs/errors.md lists who raises each one, whether it is
 * fatal and how it recovers. Adapters wrap the lower error as `cause` and rethrow.
 */
export class LivemeshError extends Error {
  readonly code: string = 'LM_ERROR';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A name (stream id, service, rendition) cannot be a subject token. */
export class InvalidNameError extends LivemeshError {
  override readonly code: string = 'LM_INVALID_NAME';
}

/** A message, body or environment failed validation; `problems` lists each field and why. */
export class ValidationFailedError extends LivemeshError {
  override readonly code: string = 'LM_VALIDATION';
  constructor(
    message: string,
    readonly problems: string[],
    options?: { cause?: unknown },
  ) {
    super(`${message}: ${problems.join('; ')}`, options);
  }
}

/** The environment is invalid at boot; every bad variable is listed. Fatal. */
export class ConfigError extends ValidationFailedError {
  override readonly code: string = 'LM_CONFIG';
}

/** A chain cannot be planned: unknown service, parameters the service refuses. */
export class ChainPlanError extends ValidationFailedError {
  override readonly code: string = 'LM_CHAIN_PLAN';
}

/** A segment message on the bus is malformed (headers, payload, claim check). Not retried. */
export class BadSegmentError extends LivemeshError {
  override readonly code: string = 'LM_BAD_SEGMENT';
}

/** ffmpeg or ffprobe failed; `stderrTail` holds its last lines. */
export class MediaProcessError extends LivemeshError {
  override readonly code: string = 'LM_MEDIA';
  constructor(
    message: string,
    readonly stderrTail: string,
    readonly exitCode: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** ffmpeg ran past its wall-clock limit and was killed. */
export class MediaTimeoutError extends MediaProcessError {
  override readonly code: string = 'LM_MEDIA_TIMEOUT';
}

/** The input itself is unusable (corrupt, truncated, wrong container, too large): retrying cannot help. */
export class MediaInputError extends MediaProcessError {
  override readonly code: string = 'LM_MEDIA_INPUT';
}

/** The warm media engine (lm-engine) died or answered something that is not its protocol. */
export class EngineCrashedError extends MediaProcessError {
  override readonly code: string = 'LM_ENGINE_CRASHED';
}

/**
 * A stage's work on one segment ran past STAGE_TIMEOUT_MS: its engine or ffmpeg is killed through
 * the segment's abort signal, and the segment is retried, then dead-lettered, like any failure.
 */
export class StageTimeoutError extends LivemeshError {
  override readonly code: string = 'LM_STAGE_TIMEOUT';
}

/**
 * A segment was delivered to its service's workers as often as the consumer allows and never
 * acknowledged: the worker died on every attempt (crash, out of memory, SIGKILL) before it could
 * retry or dead-letter it itself. Raised by the orchestrator from the server's max-deliveries
 * advisory; the segment is dead-lettered with this code.
 */
export class WorkerCrashedError extends LivemeshError {
  override readonly code: string = 'LM_WORKER_CRASHED';
}

/** A stream, service or pipeline that does not exist. */
export class NotFoundError extends LivemeshError {
  override readonly code: string = 'LM_NOT_FOUND';
}

/** A container runtime could not start, find or scale a service. */
export class RuntimeError extends LivemeshError {
  override readonly code: string = 'LM_RUNTIME';
}

/**
 * Why the bus refused, for the cases a caller must tell apart (see docs/errors.md):
 * - `not-found`: the stream, consumer, message, key or blob does not exist;
 * - `subject-full`: a publish was refused because its subject is at its per-subject cap
 *   (LM_SEG's cap per stream and hop);
 * - `stream-full`: a publish was refused because the stream is at its byte or message limit;
 * - `conflict`: a compare-and-set lost (the key exists, or moved past the revision read);
 * - `timeout`: the server did not answer in time;
 * - `closed`: the connection is closed.
 * Anything else has no reason: read the message and `cause`.
 */
export type BusErrorReason = 'not-found' | 'subject-full' | 'stream-full' | 'conflict' | 'timeout' | 'closed';

/** The bus (NATS) is unreachable or refused an operation; `cause` holds the NATS client's error. */
export class BusError extends LivemeshError {
  override readonly code: string = 'LM_BUS';
  readonly reason?: BusErrorReason;
  constructor(message: string, options?: { cause?: unknown; reason?: BusErrorReason }) {
    super(message, options);
    if (options?.reason) this.reason = options.reason;
  }
}

/** A source URL a request named is not allowed (scheme, local path, protocol). */
export class SourceUrlError extends LivemeshError {
  override readonly code: string = 'LM_SOURCE_URL';
}

/** Which quota a refused request ran into (the env variable that sets it is in the message). */
export type QuotaName = 'live-streams' | 'pulls' | 'srt-listeners' | 'renditions';

/**
 * A start or chain change would go over one of the orchestrator's quotas (MAX_LIVE_STREAMS,
 * MAX_PULLS, MAX_SRT_LISTENERS, MAX_RENDITIONS_PER_STREAM). Nothing was written or started.
 */
export class QuotaExceededError extends LivemeshError {
  override readonly code: string = 'LM_QUOTA';
  constructor(
    /** Which limit. */
    readonly limit: QuotaName,
    /** What is in use now (for renditions: what the chain asks for). */
    readonly current: number,
    readonly max: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A catalogue service would run code or pull an image the operator did not allow: a stage module
 * outside LIVEMESH_STAGE_DIR and LIVEMESH_STAGE_PACKAGES, an `env` key the loader, the runtime or
 * livemesh itself reads, an image from a registry not in LIVEMESH_IMAGE_REGISTRIES. `problems`
 * names each field.
 */
export class UnsafeServiceError extends ValidationFailedError {
  override readonly code: string = 'LM_UNSAFE_SERVICE';
}

/**
 * A publish key a platform chose (`publish.key`) is too weak (docs/security.md, "Stream keys");
 * `problems` says which part of the rule it misses, never the key.
 */
export class WeakStreamKeyError extends ValidationFailedError {
  override readonly code: string = 'LM_WEAK_STREAM_KEY';
}

/** A pull source or push-out target resolves to an address outbound traffic may not go to (loopback, private, link-local, metadata...). */
export class PrivateAddressError extends SourceUrlError {
  override readonly code: string = 'LM_PRIVATE_ADDRESS';
}

/** Why a request is not authenticated (docs/security.md, "API tokens and scopes"). */
export type UnauthenticatedReason = 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired';

/** An API request without a usable bearer token: none, not `lm_<id>_<secret>`, unknown, revoked or expired. HTTP 401. */
export class UnauthenticatedError extends LivemeshError {
  override readonly code: string = 'LM_UNAUTHENTICATED';
  constructor(
    readonly reason: UnauthenticatedReason,
    message: string,
  ) {
    super(message);
  }
}

/** An authenticated API request whose token lacks the scope the route needs. HTTP 403. */
export class ForbiddenError extends LivemeshError {
  override readonly code: string = 'LM_FORBIDDEN';
  constructor(
    /** The route needs one of these. */
    readonly required: readonly string[],
    /** What the token has (as given, implied ones not added). */
    readonly granted: readonly string[],
    message: string,
  ) {
    super(message);
  }
}

/** A signed stream's HLS request without a valid, unexpired playback token (docs/security.md, "Signed playback"). HTTP 403. */
export class PlaybackSignatureError extends LivemeshError {
  override readonly code: string = 'LM_PLAYBACK_SIGNATURE';
  constructor(
    readonly reason: 'missing' | 'bad' | 'expired',
    message: string,
  ) {
    super(message);
  }
}
