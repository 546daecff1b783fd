import type { HopTransfer } from './transfer.js';

/**
 * The chain spec: what the orchestrator decided for one stream, stored in the `lm_chains` bucket
 * under the stream id. Ingest reads hop 0's subject from it; each worker reads its hop's
 * parameters and where to publish next. A change to a running chain is a new version.
 */
export interface HopSpec {
  /** 0-based position in the chain. */
  index: number;
  service: string;
  params: Record<string, unknown>;
  /** Input subject: `lm.seg.<service>.<streamId>.<index>`. */
  subject: string;
  /**
   * Where this hop publishes: the next hop's input subject, or `null` for the output subjects
   * `lm.out.<streamId>.<rendition>` (one per rendition the segment carries).
   */
  next: string | null;
  /**
   * Fusion (like Flink's operator chaining): this hop also runs the stages of the hops after it up
   * to and including `fusedThrough`, in one decode, one filter graph and one encode, and publishes
   * where that last hop would (`hops[fusedThrough].next`). Absent on a hop that runs alone.
   */
  fusedThrough?: number;
  /**
   * This hop's stage runs inside hop `fusedInto` (see fusedThrough). Its subject and `next` stay
   * wired as if it ran alone, so a segment routed before a chain change still finishes here.
   */
  fusedInto?: number;
  /**
   * `mezzanine` when what this hop publishes goes (see publishTarget) to a hop that re-encodes
   * video anyway: its video is then encoded fast and near-lossless (MEZZANINE_ENCODE in
   * libs/media) instead of at its stage's own, final settings, which only the hop before delivery
   * needs. "Re-encodes video" is deliberately simple: the target's service declares `fusion` in the
   * catalogue (the built-in video stages). Absent: the hop's own encode.
   */
  handOff?: 'mezzanine';
  /**
   * The transfer parameters (`Lm-Transfer`) the hop's service emits and reads, from its catalogue
   * spec (ServiceSpec.transfer); absent when it declares none.
   */
  transfer?: HopTransfer;
}

/** How a hop's video leaves it: at its stage's own settings, or as a mezzanine for a re-encoding next hop. */
export type HandOff = 'final' | 'mezzanine';

/** Where a hop's segments go: the last fused hop's `next` for a fusion head, else its own. */
export function publishTarget(chain: Pick<ChainSpec, 'hops'>, hop: HopSpec): string | null {
  return hop.fusedThrough === undefined ? hop.next : (chain.hops[hop.fusedThrough]?.next ?? null);
}

/** The hops that receive segments from the chain in force (fusion heads and hops that run alone). */
export function executingHops(chain: Pick<ChainSpec, 'hops'>): HopSpec[] {
  return chain.hops.filter((h) => h.fusedInto === undefined);
}

export interface ChainSpec {
  streamId: string;
  /** Increases by one with every change; segments carry the version they were routed with. */
  version: number;
  hops: HopSpec[];
  updatedAt: string;
  /**
   * Longest a segment may take from its cut at ingest (`Lm-Ingest-Time`) to its output, ms: a hop
   * that cannot make it drops the segment before working on it. Absent: DEFAULT_BUDGET_SEGMENTS
   * segment durations (see latencyBudgetMs).
   */
  latencyBudgetMs?: number;
}

/**
 * Default latency budget, in segment durations. Delivery skips a missing segment two target
 * durations after a later one arrived, and players hold about three target durations behind the
 * live edge: a segment later than that is never shown, so work on it is wasted. Three leaves room
 * for one redelivery after a killed worker (ack wait, then the work again).
 */
export const DEFAULT_BUDGET_SEGMENTS = 3;
/** Bounds of a pipeline's latencyBudgetMs. */
export const MIN_LATENCY_BUDGET_MS = 1_000;
export const MAX_LATENCY_BUDGET_MS = 600_000;

/** The budget of a segment of `durationSeconds` under `chain`: its own, else the default. */
export function latencyBudgetMs(chain: Pick<ChainSpec, 'latencyBudgetMs'> | undefined, durationSeconds: number): number {
  const own = chain?.latencyBudgetMs;
  if (typeof own === 'number' && Number.isFinite(own) && own > 0) return own;
  return Math.max(MIN_LATENCY_BUDGET_MS, DEFAULT_BUDGET_SEGMENTS * durationSeconds * 1000);
}
