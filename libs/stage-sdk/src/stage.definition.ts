import { ValidationFailedError, assertToken, checkParamSchema, isToken, type SegmentMeta } from '@livemesh/contracts';

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
  ffmpeg(args: string[], input?: Uint8Array): Promise<Uint8Array>;
  /** A private folder for this segment's scratch files, created on first call, removed afterwards. */
  workDir(): Promise<string>;
  /**
   * State that lives across the segments of one stream on this replica, dropped when the
   * stream's chain disappears. This is the seam for the "warm ffmpeg" speed-up: a stage can keep
   * a long-running encoder (or a loaded model, a font cache) per stream here instead of paying the
   * start-up for every 2 s segment. Segments of a stream may reach different replicas, so state
   * must be a cache, never the only copy of something.
   */
  state: Map<string, unknown>;
}

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

export interface StageDefinition<P extends object = Record<string, unknown>> {
  readonly kind: typeof STAGE_KIND;
  readonly name: string;
  readonly params: ParamSchema;
  readonly input: 'segments';
  process(ctx: StageContext<P>): Promise<StageResult>;
}

export interface StageDefinitionInput<P extends object> {
  name: string;
  params?: ParamSchema;
  input?: 'segments';
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
  if ((input.input ?? 'segments') !== 'segments') {
    throw new ValidationFailedError(`stage ${input.name}: unsupported input`, ['input: only "segments" is supported']);
  }
  if (typeof input.process !== 'function') {
    throw new ValidationFailedError(`stage ${input.name}: no process function`, ['process: must be a function']);
  }
  const process = input.process;
  return Object.freeze({
    kind: STAGE_KIND,
    name: input.name,
    params,
    input: 'segments' as const,
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
  if (v.input !== 'segments') problems.push('input: must be "segments"');
  return problems;
}

export function isStageDefinition(value: unknown): value is StageDefinition<Record<string, unknown>> {
  return describeNotAStage(value).length === 0;
}
