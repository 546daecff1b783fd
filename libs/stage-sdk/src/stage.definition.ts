import { ValidationFailedError, assertToken, checkParamSchema, isToken, type SegmentMeta } from '@livemesh/contracts';
import type { Carry } from '@livemesh/bus';
import type { ProbeResult } from '@livemesh/media';

/**
 * Marks an object made by defineStage. A worker loads stages from modules it did not compile
 * (LIVEMESH_STAGE_MODULE), which may carry their own copy of this package, so the mark is a
 * plain string field rather than a class or a module-local symbol.
 */
export const STAGE_KIND = 'livemesh.stage/v1';

/** A parameter schema: a JSON Schema object with `additionalProperties: false` (see checkParamSchema). */
export type ParamSchema = Record<string, unknown>;

/** What a stage may log; messages already carry service, streamId, seq and hop. */
export interface StageLog {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
}

/** Everything `process` gets for one segment. */
export interface StageContext<P extends object = Record<string, unknown>> {
  segment: { meta: SegmentMeta; data: Uint8Array };
  /** This hop's parameters from the chain spec, checked against the stage's schema, defaults filled. */
  params: P;
  /** What the previous hop passed on (`Lm-Transfer`); `{}` when it passed nothing. */
  transfer: Record<string, unknown>;
  service: string;
  /** The start instruction's parameters: the same for every stream this replica serves. */
  startParams: Record<string, unknown>;
  /** The service's configuration from the catalogue. */
  config: Record<string, unknown>;
  streamId: string;
  seq: number;
  hop: number;
  log: StageLog;
  /** Aborted when the worker gives up on this segment (shutdown past its drain time). */
  signal: AbortSignal;
  /** Tells JetStream the segment is still being worked on (the SDK also does this on a timer). */
  heartbeat(): void;
  /**
   * Runs ffmpeg with the segment bytes (or `input`) on stdin and returns its stdout, under the
   * worker's MEDIA_TIMEOUT_MS and this segment's abort signal; progress keeps the segment alive.
   * `args` are ffmpeg's arguments after the binary, reading `pipe:0` and writing `pipe:1`.
   */
  ffmpeg(args: string[], input?: Uint8Array, options?: FfmpegCallOptions): Promise<Uint8Array>;
  /**
   * ffprobe of the segment (streams, container, picture size), made once per segment. Unless the
   * stage opted out with `inspect: false`, the SDK has already used it to refuse unusable input
   * (wrong container, no streams, a picture above the size limit, a truncated segment).
   */
  probe(): Promise<ProbeResult>;
  /**
   * Publishes a status event about this segment on `lm.evt.stream.<streamId>.<kind>` (service,
   * seq and hop are filled in). A segment that is redelivered may report twice.
   */
  report(kind: ReportKind, data: Record<string, unknown>, message?: string): Promise<void>;
  /** Stores bytes in the `lm_blobs` object store under `name` (which the stage chooses) and returns the name. */
  putBlob(name: string, data: Uint8Array): Promise<string>;
  /** Reads an object from `lm_blobs`; undefined when there is none by that name. */
  getBlob(name: string): Promise<Uint8Array | undefined>;
  /** A private folder for this segment's scratch files, created on first call, removed afterwards. */
  workDir(): Promise<string>;
  /**
   * State that lives across the segments of one stream on this replica, dropped when the
   * stream's chain disappears: a cache (a loaded model, a font, a process an analysis stage keeps
   * per stream). Segments of a stream may reach different replicas, so it must never be the only
   * copy of something; what the next segment needs goes in `carry`. (A long-running ffmpeg on the
   * segment path would hold each segment until the next arrives: see docs/writing-a-service.md.)
   */
  state: Map<string, unknown>;
  /**
   * What the previous segment of this stream left at this hop and rendition, and what this one
   * leaves for the next. Unlike `state` it is kept in NATS (the `lm_carry` bucket), so every
   * replica sees it: for work that must continue across a join whichever replica takes the next
   * segment (an audio encoder's overlap, a measurement that steers the next segment).
   */
  carry: SegmentCarry;
}

export interface SegmentCarry {
  /**
   * What segment seq - 1 left; undefined at seq 0, when the source timeline restarted in between
   * (another epoch), when it left nothing, or when nothing came within `waitMs` (default 0): its
   * replica may still be working on it, or it never reached this hop. The segment is kept alive
   * while this waits.
   */
  previous(options?: { waitMs?: number }): Promise<Carry | undefined>;
  /**
   * Leaves `carry` for segment seq + 1 (the last call wins). It is stored with the segment's
   * output, before the ack: an attempt that fails leaves nothing. A failure to store it is logged.
   */
  leave(carry: Carry): void;
}

export interface FfmpegCallOptions {
  /**
   * Default true: a run that writes nothing to stdout is an input error (nothing to encode).
   * False for analysis runs (`-f null -`) that only write side files.
   */
  expectOutput?: boolean;
}

/** Status events a stage may publish about a segment. */
export const REPORT_KINDS = ['thumbnail', 'detection'] as const;
export type ReportKind = (typeof REPORT_KINDS)[number];

/** One result: the segment continues with these bytes (and the input's rendition unless given). */
export interface StageOutput {
  data: Uint8Array;
  /** Passed on to the next hop; without it the input's transfer is passed on unchanged. */
  transfer?: Record<string, unknown>;
  rendition?: string;
}

/** One rung of an ABR ladder: each rendition continues down the chain on its own. */
export interface RenditionOutput {
  rendition: string;
  data: Uint8Array;
  transfer?: Record<string, unknown>;
}

export type StageResult = StageOutput | RenditionOutput[];

export type StageInput = 'segments' | 'frames';

export interface StageDefinition<P extends object = Record<string, unknown>> {
  readonly kind: typeof STAGE_KIND;
  readonly name: string;
  readonly params: ParamSchema;
  /** What the catalogue says the service consumes; a frame stage is still fed segments and decodes them (see defineFrameStage). */
  readonly input: StageInput;
  /** Probe and check every segment before process (default true). */
  readonly inspect: boolean;
  process(ctx: StageContext<P>): Promise<StageResult>;
}

export interface StageDefinitionInput<P extends object> {
  name: string;
  params?: ParamSchema;
  input?: StageInput;
  /**
   * Default true: the SDK probes each segment first and dead-letters unusable input with a clear
   * error before process runs. Only a stage that never decodes (a pass-through) should turn it off.
   */
  inspect?: boolean;
  process(ctx: StageContext<P>): Promise<StageResult> | StageResult;
}

const EMPTY_SCHEMA: ParamSchema = { type: 'object', properties: {}, additionalProperties: false };

/**
 * Declares a stage. The name becomes a subject token and the schema is checked here, so a broken
 * stage fails when its module loads rather than on the first segment.
 */
export function defineStage<P extends object = Record<string, unknown>>(input: StageDefinitionInput<P>): StageDefinition<P> {
  assertToken('stage name', input.name);
  const params = input.params ?? EMPTY_SCHEMA;
  const problems = checkParamSchema(params);
  if (problems.length) throw new ValidationFailedError(`stage ${input.name}: parameter schema is unusable`, problems);
  const kind = input.input ?? 'segments';
  if (kind !== 'segments' && kind !== 'frames') {
    throw new ValidationFailedError(`stage ${input.name}: unsupported input`, ['input: must be "segments" or "frames"']);
  }
  if (typeof input.process !== 'function') {
    throw new ValidationFailedError(`stage ${input.name}: no process function`, ['process: must be a function']);
  }
  const process = input.process;
  return Object.freeze({
    kind: STAGE_KIND,
    name: input.name,
    params,
    input: kind,
    inspect: input.inspect ?? true,
    process: async (ctx: StageContext<P>) => process(ctx),
  });
}

/** Problems that keep `value` from being a stage; empty when it is one (used on dynamically loaded modules). */
export function describeNotAStage(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return ['not an object (export the result of defineStage() as the default export)'];
  const v = value as Partial<StageDefinition>;
  const problems: string[] = [];
  if (v.kind !== STAGE_KIND) problems.push(`kind: expected "${STAGE_KIND}" (was it made with defineStage()?)`);
  if (!isToken(v.name)) problems.push('name: must be 1-64 letters, digits, \'-\' or \'_\'');
  if (typeof v.process !== 'function') problems.push('process: must be a function');
  problems.push(...checkParamSchema(v.params));
  if (v.input !== 'segments' && v.input !== 'frames') problems.push('input: must be "segments" or "frames"');
  return problems;
}

export function isStageDefinition(value: unknown): value is StageDefinition<Record<string, unknown>> {
  return describeNotAStage(value).length === 0;
}
