import { Inject, Injectable } from '@nestjs/common';
import { QuotaExceededError, type StartStreamRequest, type StreamRecord, ENV, type OrchestratorSettings } from '@livemesh/contracts';
import type { PlannedStage } from '../planner/chain.planner.js';
import { StreamTable } from './stream.table.js';

/** The states that hold a stream's resources: a segmenter, a pull, an SRT listener, chain capacity. */
const HOLDING: ReadonlySet<StreamRecord['state']> = new Set(['starting', 'live']);

export interface QuotaLimits {
  liveStreams: number;
  pulls: number;
  /** 0 when SRT is off: published streams then hold no listener. */
  srtListeners: number;
  srtOn: boolean;
  renditions: number;
}

/** What a stream holds, for counting. */
interface Holding {
  pull: boolean;
}

/** The quotas from the environment; SRT listeners are also capped by the ports ingest may use. */
export function quotaLimits(env: OrchestratorSettings): QuotaLimits {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(env.SRT_PORT_RANGE);
  const ports = m ? Math.max(0, Number(m[2]) - Number(m[1]) + 1) : 0;
  return {
    liveStreams: env.MAX_LIVE_STREAMS,
    pulls: env.MAX_PULLS,
    srtListeners: Math.min(env.MAX_SRT_LISTENERS, ports),
    srtOn: m !== null,
    renditions: env.MAX_RENDITIONS_PER_STREAM,
  };
}

/**
 * Renditions a chain produces: a stage with a `renditions` list (an ABR ladder) makes that many
 * of each rendition it receives, so ladders one after another multiply.
 */
export function chainRenditions(stages: readonly Pick<PlannedStage, 'params'>[]): number {
  let n = 1;
  for (const s of stages) {
    const ladder = s.params?.renditions;
    if (Array.isArray(ladder) && ladder.length > 0) n *= ladder.length;
  }
  return n;
}

/**
 * Decides whether one more stream may start. The check and the reservation happen with no await
 * in between, so however many starts run concurrently in this process, each sees the ones
 * admitted before it (JavaScript runs one at a time); a reservation is held until the start has
 * written its record into the table, or failed.
 */
export class QuotaBook {
  /** Starts being admitted: stream id -> what it will hold, and how many starts of that id are in flight. */
  private readonly reserved = new Map<string, Holding & { starts: number }>();

  constructor(
    readonly limits: QuotaLimits,
    private readonly holders: () => Iterable<{ key: string; value: StreamRecord }>,
  ) {}

  /** Reserves a slot for `id` or throws QuotaExceededError; the returned function gives it back. */
  admit(id: string, request: Pick<StartStreamRequest, 'source'>): () => void {
    const refused = this.refusal(id, request);
    if (refused) throw refused;
    const pull = request.source !== undefined;
    const r = this.reserved.get(id);
    if (r) r.starts++;
    else this.reserved.set(id, { pull, starts: 1 });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const cur = this.reserved.get(id);
      if (cur && --cur.starts === 0) this.reserved.delete(id);
    };
  }

  /** The quota a start of `id` would go over now, if any; reserves nothing. */
  refusal(id: string, request: Pick<StartStreamRequest, 'source'>): QuotaExceededError | undefined {
    const held = this.held();
    // A stream already counted (a second start of a live id, a takeover of a stale start) takes nothing new.
    if (held.has(id)) return undefined;
    const pull = request.source !== undefined;
    const { liveStreams, pulls, srtListeners, srtOn } = this.limits;
    const all = held.size;
    if (all >= liveStreams) {
      return new QuotaExceededError('live-streams', all, liveStreams, `${all} streams are live (MAX_LIVE_STREAMS=${liveStreams}); stop one or raise the limit`);
    }
    const pulling = [...held.values()].filter((h) => h.pull).length;
    if (pull && pulling >= pulls) {
      return new QuotaExceededError('pulls', pulling, pulls, `${pulling} streams are pulled from a URL (MAX_PULLS=${pulls}); stop one or raise the limit`);
    }
    const listening = all - pulling;
    if (!pull && srtOn && listening >= srtListeners) {
      return new QuotaExceededError(
        'srt-listeners',
        listening,
        srtListeners,
        `${listening} published streams hold an SRT listener (at most ${srtListeners}: MAX_SRT_LISTENERS or the ports in SRT_PORT_RANGE); stop one or raise the limit`,
      );
    }
    return undefined;
  }

  /** Throws QuotaExceededError when the planned chain makes more renditions than a stream may have. */
  checkRenditions(stages: readonly Pick<PlannedStage, 'params'>[]): void {
    const n = chainRenditions(stages);
    const max = this.limits.renditions;
    if (n > max) {
      throw new QuotaExceededError('renditions', n, max, `the chain makes ${n} renditions (MAX_RENDITIONS_PER_STREAM=${max}); use a smaller ladder or raise the limit`);
    }
  }

  /** Streams holding resources now: the table's starting/live ones and the starts being admitted. */
  private held(): Map<string, Holding> {
    const out = new Map<string, Holding>();
    for (const { key, value } of this.holders()) {
      if (HOLDING.has(value.state)) out.set(key, { pull: value.request?.source !== undefined });
    }
    for (const [id, r] of this.reserved) if (!out.has(id)) out.set(id, { pull: r.pull });
    return out;
  }
}

/** The orchestrator's quota book, over its stream table. */
@Injectable()
export class StreamQuotas extends QuotaBook {
  constructor(@Inject(ENV) env: OrchestratorSettings, @Inject(StreamTable) table: StreamTable) {
    super(quotaLimits(env), () => table.all());
  }
}
