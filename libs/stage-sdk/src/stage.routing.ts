import {
  BadSegmentError,
  InvalidNameError,
  MediaInputError,
  ValidationFailedError,
  isToken,
  parseSegmentSubject,
  publishTarget,
  subjects,
  type ChainSpec,
  type HandOff,
  type HopSpec,
  type Segment,
  type SegmentMeta,
} from '@livemesh/contracts';
import { MEZZANINE_ENCODE, type VideoEncode } from '@livemesh/media';
import type { StageDefinition, StageResult } from './stage.definition.js';

/** One segment a hop publishes after `process` returned. */
export interface PublishPlan {
  subject: string;
  /** `seg` for the next hop's input, `out` for the output subjects (distinct dedup ids). */
  kind: 'seg' | 'out';
  segment: Segment;
}

/** The hop of `chain` that a segment on `lm.seg.<service>.<stream>.<hop>` is for; throws when the chain has moved on. */
export function hopFor(chain: ChainSpec, service: string, hop: number): HopSpec {
  if (!Array.isArray(chain?.hops) || !Number.isInteger(chain.version)) {
    throw new ValidationFailedError(`chain spec of stream ${String(chain?.streamId)} is malformed`, ['expected { version, hops: [...] }']);
  }
  const spec = chain.hops[hop];
  if (!spec || spec.service !== service) {
    throw new ValidationFailedError(`chain v${chain.version} of stream ${chain.streamId} has no hop ${hop} for ${service}`, [
      spec ? `hops[${hop}].service is ${spec.service}` : `the chain has ${chain.hops.length} hops`,
    ]);
  }
  return spec;
}

/** One stage of a hop: the hop itself, or each hop a fused hop runs. */
export interface HopMember {
  hop: HopSpec;
  def: StageDefinition;
}

/**
 * The stages `hop` runs: itself, or for a fusion head every hop through `fusedThrough`, each with
 * the definition this worker holds for it (its own, or a peer from its image). Throws a
 * ValidationFailedError (never retried) when the chain fuses something this worker cannot run.
 */
export function fusedMembers(chain: ChainSpec, hop: HopSpec, own: StageDefinition, peers?: (service: string) => StageDefinition<object> | undefined): HopMember[] {
  if (hop.fusedThrough === undefined) return [{ hop, def: own }];
  const last = hop.fusedThrough;
  const problems: string[] = [];
  const members: HopMember[] = [];
  if (!Number.isInteger(last) || last <= hop.index || last >= chain.hops.length) problems.push(`hops[${hop.index}].fusedThrough: ${String(last)} is not a later hop of the chain`);
  else {
    for (let i = hop.index; i <= last; i++) {
      const h = chain.hops[i]!;
      const def = i === hop.index ? own : (peers?.(h.service) as StageDefinition | undefined);
      if (!def) problems.push(`hops[${i}]: this worker (${own.name}) holds no stage "${h.service}" to run inside its hop`);
      else if (!def.video) problems.push(`hops[${i}]: stage "${h.service}" is not a video stage and cannot be fused`);
      else members.push({ hop: h, def });
    }
  }
  if (problems.length) throw new ValidationFailedError(`chain v${chain.version} of stream ${chain.streamId} fuses hops this worker cannot run`, problems);
  return members;
}

/**
 * The encode of a hop's video: the stage's own (`own`, e.g. a VideoStep's, or a fused hop's last
 * step's), unless the hop hands on a mezzanine (HopSpec.handOff, StageContext.handOff): then the
 * next hop decodes and encodes again anyway, and MEZZANINE_ENCODE costs less CPU in both hops
 * and loses less than encoding final quality twice.
 */
export function encodeFor(hop: { handOff?: HandOff }, own: VideoEncode): VideoEncode {
  return hop.handOff === 'mezzanine' ? MEZZANINE_ENCODE : own;
}

/**
 * Where each result goes. The timeline (pts, duration) and the ingest time travel unchanged, so
 * delivery can keep one continuous playlist and measure ingest-to-playlist latency at the end.
 * Transfer parameters are carried forward: a result's own are laid over what came in, so a
 * parameter reaches every later hop until another stage emits the same name (contracts transfer.ts).
 */
export function planPublishes(input: SegmentMeta, chain: ChainSpec, hop: HopSpec, result: StageResult): PublishPlan[] {
  const outputs = Array.isArray(result) ? result : [{ ...result, rendition: result?.rendition ?? input.rendition }];
  const problems: string[] = [];
  if (outputs.length === 0) problems.push('an empty list of renditions');
  const seen = new Set<string>();
  outputs.forEach((o, i) => {
    if (!o || !isBytes(o.data)) problems.push(`[${i}].data: must be a Uint8Array`);
    else if (o.data.byteLength === 0) problems.push(`[${i}].data: is empty`);
    if (!isToken(o?.rendition)) problems.push(`[${i}].rendition: must be 1-64 letters, digits, '-' or '_'`);
    else if (seen.has(o.rendition)) problems.push(`[${i}].rendition: "${o.rendition}" appears twice`);
    else seen.add(o.rendition);
    if (o?.transfer !== undefined && (o.transfer === null || typeof o.transfer !== 'object' || Array.isArray(o.transfer))) {
      problems.push(`[${i}].transfer: must be an object`);
    }
  });
  if (problems.length) throw new ValidationFailedError(`stage result for ${input.streamId}#${input.seq} is invalid`, problems);

  // A fused hop publishes where its last stage's hop would, under that hop's number, so an
  // output's dedup id is the same whether the chain ran fused or not.
  const next = publishTarget(chain, hop);
  let nextHop: number | undefined;
  if (next !== null) {
    nextHop = parseSegmentSubject(next)?.hop;
    if (nextHop === undefined) {
      throw new ValidationFailedError(`chain v${chain.version} of stream ${chain.streamId} is invalid`, [`hops[${hop.fusedThrough ?? hop.index}].next: ${next} is not a segment subject`]);
    }
  }
  return outputs.map((o) => {
    const meta: SegmentMeta = {
      ...input,
      hop: nextHop ?? hop.fusedThrough ?? hop.index,
      rendition: o.rendition,
      chainVersion: chain.version,
      // Carried forward: what came in, with what this stage emitted laid over it.
      transfer: o.transfer ? { ...input.transfer, ...o.transfer } : input.transfer,
      blob: undefined,
    };
    return next !== null
      ? { subject: next, kind: 'seg' as const, segment: { meta, data: o.data } }
      : { subject: subjects.output(input.streamId, o.rendition), kind: 'out' as const, segment: { meta, data: o.data } };
  });
}

/** A Uint8Array (or Buffer) from any realm: instanceof fails across vm contexts (jest, loaded modules). */
export function isBytes(v: unknown): v is Uint8Array {
  return ArrayBuffer.isView(v) && (v as Uint8Array).BYTES_PER_ELEMENT === 1 && !(v instanceof DataView);
}

/** Back-off before delivery n+1 after delivery n failed: 500 ms, 1 s, 2 s, ... capped. */
export function retryDelayMs(deliveryCount: number, baseMs = 500, maxMs = 30_000): number {
  const n = Math.max(1, Math.floor(deliveryCount));
  return Math.min(maxMs, baseMs * 2 ** (n - 1));
}

/**
 * Errors where another attempt gets the same answer: the bytes are unusable, the segment or its
 * parameters are malformed, or the stage returned something that cannot be published.
 */
export function isPermanent(error: unknown): boolean {
  return (
    error instanceof MediaInputError ||
    error instanceof BadSegmentError ||
    error instanceof ValidationFailedError ||
    error instanceof InvalidNameError
  );
}

export type FailureDecision = { action: 'retry'; delayMs: number } | { action: 'dead-letter'; reason: string };

/** What to do after delivery `deliveryCount` (1-based) of a segment failed. */
export function decideFailure(error: unknown, deliveryCount: number, maxAttempts: number): FailureDecision {
  if (isPermanent(error)) return { action: 'dead-letter', reason: `${errorCode(error)}: not retried` };
  if (deliveryCount < maxAttempts) return { action: 'retry', delayMs: retryDelayMs(deliveryCount) };
  return { action: 'dead-letter', reason: `failed ${deliveryCount} of ${maxAttempts} attempts` };
}

export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'UNKNOWN';
}

/** A one-line message fit for a NATS header value (no CR/LF, bounded). */
export function headerSafe(text: string, max = 1000): string {
  const flat = text.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/** The message of an error, with a media error's stderr tail, as one line. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const tail = (error as { stderrTail?: unknown }).stderrTail;
  const lastLines = typeof tail === 'string' && tail ? ` (${tail.split('\n').filter(Boolean).slice(-3).join(' | ')})` : '';
  return `${error.message}${lastLines}`;
}
