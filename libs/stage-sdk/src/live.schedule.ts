/**
 * The pure parts of "live means live" in a stage runner: whether a segment can still make its
 * latency budget, the round-robin order in which held segments of different streams are served,
 * and runs of dropped seqs coalesced into one event per stream. No I/O, no timers.
 */

export interface LatenessInput {
  /** Wall clock now, ms. */
  now: number;
  /** `Lm-Ingest-Time` of the segment, ms. */
  ingestTime: number;
  /** The stream's budget, ms (latencyBudgetMs in contracts). */
  budgetMs: number;
  /** What this hop usually takes for a segment, ms (0 while unknown). */
  expectedMs: number;
  /** JetStream's delivery count of the message (1 on the first delivery). */
  attempt?: number;
}

export interface Lateness {
  late: boolean;
  /** Time since the cut, ms (0 when the ingest clock is ahead of ours). */
  ageMs: number;
}

/**
 * Late when the segment's age plus what the hop usually takes is past the budget: its output
 * would come after the viewers' playlist moved on, so working on it is wasted and only delays
 * the segments behind it. A clock ahead of ours counts as age 0, never as a reason to drop.
 * A redelivery (an attempt failed, or its worker died) is never late: it keeps its attempts, so
 * a segment that fails every time still ends as a dead letter with its evidence, and what that
 * costs is bounded by the attempts.
 */
export function lateness(i: LatenessInput): Lateness {
  const ageMs = Math.max(0, i.now - i.ingestTime);
  if ((i.attempt ?? 1) > 1) return { late: false, ageMs };
  return { late: ageMs + Math.max(0, i.expectedMs) > i.budgetMs, ageMs };
}

/**
 * What a hop usually takes, ms: an exponentially weighted mean of its successful segments, so a
 * few slow ones move it without one outlier dropping a run of segments. It starts from 0 and
 * warms up: the first segment also pays for starting the engine, and an estimate too low only
 * lets a segment through that the next hop or delivery may still drop, where one too high would
 * drop segments that could have made it.
 */
export class ProcessingEstimate {
  private mean = 0;

  constructor(private readonly weight = 0.2) {}

  get ms(): number {
    return this.mean;
  }

  observe(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.mean += this.weight * (ms - this.mean);
  }
}

/**
 * Held items by stream, served round-robin: take() gives the oldest item of the stream served
 * longest ago (a stream never served first, then by arrival). One stream's backlog therefore
 * costs each other stream at most one of its items per turn.
 */
export class FairQueue<T> {
  private readonly queues = new Map<string, T[]>();
  /** When each stream was last served (a counter, not a clock); bounded, oldest forgotten first. */
  private readonly served = new Map<string, number>();
  private turn = 0;
  private count = 0;

  constructor(private readonly memory = 1024) {}

  get size(): number {
    return this.count;
  }

  /** Streams with items held. */
  get streams(): number {
    return this.queues.size;
  }

  push(stream: string, item: T): void {
    const q = this.queues.get(stream);
    if (q) q.push(item);
    else this.queues.set(stream, [item]);
    this.count++;
  }

  take(): { stream: string; item: T } | undefined {
    let best: string | undefined;
    let bestTurn = Infinity;
    // Map order is first-held order, so ties (never served) go to the stream held first.
    for (const stream of this.queues.keys()) {
      const t = this.served.get(stream) ?? -1;
      if (t < bestTurn) {
        best = stream;
        bestTurn = t;
      }
    }
    if (best === undefined) return undefined;
    const q = this.queues.get(best)!;
    const item = q.shift()!;
    if (q.length === 0) this.queues.delete(best);
    this.count--;
    this.served.delete(best);
    this.served.set(best, this.turn++);
    if (this.served.size > this.memory) this.served.delete(this.served.keys().next().value!);
    return { stream: best, item };
  }

  /** Calls `fn` on every held item. */
  forEach(fn: (item: T, stream: string) => void): void {
    for (const [stream, q] of this.queues) for (const item of q) fn(item, stream);
  }

  /** Removes and returns every held item `pick` selects (e.g. the ones that became late). */
  removeWhere(pick: (item: T, stream: string) => boolean): T[] {
    const out: T[] = [];
    for (const [stream, q] of this.queues) {
      const keep = q.filter((item) => !(pick(item, stream) && out.push(item)));
      if (keep.length === 0) this.queues.delete(stream);
      else this.queues.set(stream, keep);
    }
    this.count -= out.length;
    return out;
  }

  /** Empties the queue (shutdown). */
  drain(): T[] {
    const all = [...this.queues.values()].flat();
    this.queues.clear();
    this.count = 0;
    return all;
  }
}

/** A run of dropped seqs of one stream, as a `segments-dropped` event reports it. */
export interface DropRun {
  streamId: string;
  hop: number;
  from: number;
  to: number;
  count: number;
  /** Clock (ms) of the first drop of the run. */
  since: number;
}

/**
 * Coalesces drops into one run per stream: a run is reported when it is `maxAgeMs` old, or at
 * once when it has `maxCount` seqs, so an overload costs one event per stream and period
 * instead of one per segment. At most `maxStreams` open runs; the oldest is closed first.
 */
export class DropLedger {
  private readonly runs = new Map<string, DropRun>();

  constructor(
    private readonly maxAgeMs = 1_000,
    private readonly maxCount = 100,
    private readonly maxStreams = 1_024,
  ) {}

  get open(): number {
    return this.runs.size;
  }

  /** Records a drop; returns runs to report now. */
  add(streamId: string, hop: number, seq: number, now: number): DropRun[] {
    const due: DropRun[] = [];
    const run = this.runs.get(streamId);
    if (run) {
      run.from = Math.min(run.from, seq);
      run.to = Math.max(run.to, seq);
      run.hop = Math.min(run.hop, hop);
      run.count++;
      if (run.count >= this.maxCount) {
        this.runs.delete(streamId);
        due.push(run);
      }
    } else {
      this.runs.set(streamId, { streamId, hop, from: seq, to: seq, count: 1, since: now });
      if (this.runs.size > this.maxStreams) {
        const oldest = this.runs.keys().next().value!;
        due.push(this.runs.get(oldest)!);
        this.runs.delete(oldest);
      }
    }
    return due;
  }

  /** Runs old enough to report (all of them with `all`). */
  due(now: number, all = false): DropRun[] {
    const out: DropRun[] = [];
    for (const [id, run] of this.runs) {
      if (all || now - run.since >= this.maxAgeMs) {
        out.push(run);
        this.runs.delete(id);
      }
    }
    return out;
  }
}

/**
 * Streams a runner pulled segments of lately, to size its lookahead: holding segments beyond the
 * busy slots only pays when there is another stream to switch to, and while a runner holds
 * segments an idle replica of the same service cannot take them. So one stream gets no lookahead
 * (its segments go to whichever replica is free, as before), and S streams get S - 1, up to the cap.
 */
export class RecentStreams {
  /** Stream -> last seen (ms), oldest first. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs = 10_000,
    private readonly max = 4_096,
  ) {}

  saw(stream: string, now: number): void {
    this.seen.delete(stream);
    this.seen.set(stream, now);
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value!);
  }

  /** Segments worth holding beyond the busy slots: one per other recent stream, at most `cap`. */
  lookahead(now: number, cap: number): number {
    for (const [stream, at] of this.seen) {
      if (now - at <= this.windowMs) break;
      this.seen.delete(stream);
    }
    return Math.max(0, Math.min(cap, this.seen.size - 1));
  }
}
