import { ValidationFailedError, assertToken, checkParamSchema, checkTransferDecl, isToken, type HandOff, type SegmentMeta, type StreamEventData, type TransferDecl } from '@livemesh/contracts';
import type { Carry } from '@livemesh/bus';
import type { ProbeResult, SegmentTransform, TsInspection, VideoEncode } from '@livemesh/media';
import { encodeFor } from './stage.routing.js';

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

/** What every stage callback gets about the segment and its hop. */
export interface SegmentScope<P extends object = Record<string, unknown>> {
  /** The segment: `meta` holds streamId, seq, hop, rendition, pts, duration, transfer. */
  segment: { meta: SegmentMeta; data: Uint8Array };
  /** This hop's parameters from the chain spec, checked against the stage's schema, defaults filled. */
  params: P;
  /**
   * What the hops before passed on (`Lm-Transfer`); `{}` when they passed nothing. Every parameter
   * the stage declares in `transfer.reads` has been checked against its schema (a required one is
   * present) before the stage is called; type it with `transferOf<T>(ctx)`.
   */
  transfer: Record<string, unknown>;
  /**
   * What the SDK read from the segment's MPEG-TS in-process, without a decoder: its streams,
   * picture size, frame count, frame rate and media time. The segment has passed the checks
   * made on it (see `inspect`).
   */
  media: TsInspection;
  /** The service's configuration from the catalogue (`{}` for a stage fused into another's hop). */
  config: Record<string, unknown>;
  log: StageLog;
  /** A private folder for this segment's scratch files, created on first call, removed afterwards. */
  workDir(): Promise<string>;
  /**
   * State that lives across the segments of one stream on this replica, dropped when the
   * stream's chain disappears: a cache (a loaded model, a font, a process an analysis stage keeps
   * per stream). Segments of a stream may reach different replicas, so it must never be the only
   * copy of something; what the next segment needs goes in `carry`.
   */
  state: Map<string, unknown>;
}

/** Everything `process` gets for one segment. */
export interface StageContext<P extends object = Record<string, unknown>> extends SegmentScope<P> {
  /** The start instruction's parameters: the same for every stream this replica serves. */
  startParams: Record<string, unknown>;
  /** Aborted when the worker gives up on this segment (shutdown past its drain time). */
  signal: AbortSignal;
  /**
   * `mezzanine` when the next hop decodes and encodes the video again, so final quality here is
   * paid for twice: encode with `encodeFor(ctx, yourEncode)`, which then gives the fast,
   * near-lossless MEZZANINE_ENCODE. `final` before delivery (or a stage that is not a video stage
   * next). `video` stages get this without asking.
   */
  handOff: HandOff;
  /**
   * The segment's picture through `videoFilter` and an encode (or copied), audio copied, on the
   * source timeline: on the worker's warm media engine (decoder and encoder kept across segments,
   * no process start) unless STAGE_ENGINE=cli, else one ffmpeg run. Prefer it to `ffmpeg` for
   * anything it can express; `video` stages get it without asking.
   */
  transform(t: SegmentTransform, input?: Uint8Array): Promise<Uint8Array>;
  /**
   * Runs ffmpeg with the segment bytes (or `input`) on stdin and returns its stdout, under the
   * worker's MEDIA_TIMEOUT_MS and this segment's abort signal; progress keeps the segment alive.
   * `args` are ffmpeg's arguments after the binary, reading `pipe:0` and writing `pipe:1`.
   */
  ffmpeg(args: string[], input?: Uint8Array, options?: FfmpegCallOptions): Promise<Uint8Array>;
  /**
   * ffprobe of the segment (streams, container, picture size), run on first call: a process
   * start, so only for what `media` does not say.
   */
  probe(): Promise<ProbeResult>;
  /**
   * Publishes a status event about this segment on `lm.evt.stream.<streamId>.<kind>` (service,
   * seq and hop are filled in). A segment that is redelivered may report twice.
   */
  report<K extends ReportKind>(kind: K, data: StreamEventData[K], message?: string): Promise<void>;
  /** The `lm_blobs` object store: `put` stores bytes under a name the stage chooses and returns it; `get` is undefined when there is none. */
  blobs: { put(name: string, data: Uint8Array): Promise<string>; get(name: string): Promise<Uint8Array | undefined> };
  /**
   * What the previous segment of this stream left at this hop and rendition, and what this one
   * leaves for the next. Unlike `state` it is kept in NATS (the `lm_carry` bucket), so every
   * replica sees it: for work that must continue across a join whichever replica takes the next
   * segment (an audio encoder's overlap, a measurement that steers the next segment).
   */
  carry: SegmentCarry;
}

/**
 * What a video stage does to the picture: a filter fragment and the encode its output is handed
 * on with. The SDK turns it into one transform, and when the planner fused adjacent video stages
 * into one hop, it joins their fragments in chain order into one filter graph and encodes once,
 * with the last stage's encode.
 */
export interface VideoStep {
  /** An ffmpeg filter chain for the picture (`-filter:v` syntax, from libs/media's builders), or '' for none. */
  filter: string;
  /** The encode when this stage is the last of its hop and hands on final video (see StageContext.handOff). */
  encode: VideoEncode;
  /** The output's rendition; the input's when absent. */
  rendition?: string;
  /** Passed on to the next hop, laid over what came in. */
  transfer?: Record<string, unknown>;
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
  /**
   * Transfer parameters this stage emits, laid over what came in and passed on to the next hop
   * (without it the input's transfer is passed on unchanged). Each one that differs from what came
   * in must be declared in the stage's `transfer.emits` and fit its schema, or the segment fails.
   */
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

/** How a video stage may be fused with its neighbours (see VideoStep). */
export interface StageFusion {
  /** Parameters that make a hop unfusable when given (its `video` returns undefined for them). */
  exceptWith: readonly string[];
}

export interface StageDefinition<P extends object = Record<string, unknown>> {
  readonly kind: typeof STAGE_KIND;
  readonly name: string;
  readonly params: ParamSchema;
  /** What the catalogue says the service consumes; a frame stage is still fed segments and decodes them (see defineFrameStage). */
  readonly input: StageInput;
  /** Check every segment before the stage sees it (default true). */
  readonly inspect: boolean;
  /** Set for a video stage: the planner may fuse it with adjacent video stages. */
  readonly fusion?: StageFusion;
  /** The transfer parameters the stage emits and reads (see StageDefinitionInput.transfer). */
  readonly transfer?: TransferDecl;
  /** A video stage's step; undefined for parameters it cannot express as one (then `process` runs). */
  video?(ctx: SegmentScope<P>): Promise<VideoStep | undefined>;
  process(ctx: StageContext<P>): Promise<StageResult>;
}

export interface StageDefinitionInput<P extends object> {
  name: string;
  params?: ParamSchema;
  input?: StageInput;
  /**
   * Default true: the SDK reads each segment's MPEG-TS in-process first (whole packets, streams,
   * picture size, media time) and dead-letters unusable input with a clear error before the
   * stage runs. Only a stage that never decodes (a pass-through) should turn it off.
   */
  inspect?: boolean;
  /**
   * A video stage: what the picture goes through and how it is encoded. The SDK runs it (on the
   * warm engine), and fuses it with adjacent video stages into one decode and one encode. Return
   * undefined for parameters that need more than a filter (listed in `exceptWith`); `process`
   * then runs.
   */
  video?(ctx: SegmentScope<P>): Promise<VideoStep | undefined> | VideoStep | undefined;
  /** Parameters for which `video` returns undefined: a hop that has any of them is not fused. */
  exceptWith?: readonly string[];
  /**
   * Transfer parameters (`Lm-Transfer`) the stage emits and reads, each with a JSON Schema of its
   * value; a read one may be `required`. They go into the service's catalogue spec, the planner
   * checks that a chain's stages fit, and the SDK checks the values on every segment: an emitted
   * one undeclared or off its schema fails the segment, a read one missing (when required) or off
   * its schema rejects it as bad input. See docs/writing-a-service.md.
   */
  transfer?: TransferDecl;
  /** Required unless `video` handles every parameter set. */
  process?(ctx: StageContext<P>): Promise<StageResult> | StageResult;
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
  const transferProblems = checkTransferDecl(input.transfer);
  if (transferProblems.length) throw new ValidationFailedError(`stage ${input.name}: transfer declaration is unusable`, transferProblems);
  const kind = input.input ?? 'segments';
  if (kind !== 'segments' && kind !== 'frames') {
    throw new ValidationFailedError(`stage ${input.name}: unsupported input`, ['input: must be "segments" or "frames"']);
  }
  const video = input.video;
  if (video !== undefined && typeof video !== 'function') {
    throw new ValidationFailedError(`stage ${input.name}: video is not a function`, ['video: must be a function returning a VideoStep']);
  }
  if (typeof input.process !== 'function' && (video === undefined || (input.exceptWith ?? []).length > 0)) {
    throw new ValidationFailedError(`stage ${input.name}: no process function`, [
      video ? 'process: required when exceptWith names parameters video() cannot handle' : 'process: must be a function (or give video)',
    ]);
  }
  const process = input.process;
  const name = input.name;
  return Object.freeze({
    kind: STAGE_KIND,
    name,
    params,
    input: kind,
    inspect: input.inspect ?? true,
    ...(input.transfer ? { transfer: structuredClone(input.transfer) } : {}),
    ...(video ? { fusion: Object.freeze({ exceptWith: Object.freeze([...(input.exceptWith ?? [])]) }), video: async (ctx: SegmentScope<P>) => video(ctx) } : {}),
    // A video stage's step runs as one transform; parameters it cannot express go to process.
    process: async (ctx: StageContext<P>): Promise<StageResult> => {
      const step = video ? await video(ctx) : undefined;
      if (step) return runVideoStep(ctx, step);
      if (process) return process(ctx);
      throw new ValidationFailedError(`stage ${name}: video() returned nothing and there is no process`, ['return a VideoStep for these parameters']);
    },
  });
}

/** One video step as one transform of the segment, encoded for what the hop hands on. */
export async function runVideoStep(ctx: Pick<StageContext, 'transform' | 'transfer' | 'handOff'>, step: VideoStep): Promise<StageOutput> {
  const data = await ctx.transform({ videoFilter: step.filter || undefined, video: encodeFor(ctx, step.encode), audio: 'copy' });
  return { data, ...(step.rendition ? { rendition: step.rendition } : {}), ...(step.transfer ? { transfer: { ...ctx.transfer, ...step.transfer } } : {}) };
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
  problems.push(...checkTransferDecl(v.transfer));
  if (v.input !== 'segments' && v.input !== 'frames') problems.push('input: must be "segments" or "frames"');
  return problems;
}

export function isStageDefinition(value: unknown): value is StageDefinition<Record<string, unknown>> {
  return describeNotAStage(value).length === 0;
}
