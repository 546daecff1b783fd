import type { SegmentsDroppedData } from '@livemesh/contracts';

export interface QueueLimits {
  /** Most entries held, the one being sent included. */
  maxSegments: number;
  /** Most bytes held, the one being sent included (one segment larger than this on its own is still held). */
  maxBytes: number;
}

export interface Sized {
  bytes: number;
}

/**
 * A stream's segments waiting for the bus, first in first out, bounded by count and bytes. When a
 * new segment does not fit, the oldest waiting ones are evicted (docs/design.md, "Ingest's queue to
 * the bus"): on a live stream the newest media is what a viewer can still use. The head can be
 * pinned while a publish of it is under way, since that publish may already have been stored; the
 * entry just pushed is never evicted either, so a single segment above `maxBytes` still goes out.
 */
export class BoundedQueue<T extends Sized> {
  private readonly items: T[] = [];
  private total = 0;
  private pinned = false;

  constructor(private readonly limits: QueueLimits) {
    if (!Number.isInteger(limits.maxSegments) || limits.maxSegments < 2) throw new RangeError(`maxSegments must be an integer >= 2, got ${limits.maxSegments}`);
    if (!Number.isFinite(limits.maxBytes) || limits.maxBytes < 1) throw new RangeError(`maxBytes must be >= 1, got ${limits.maxBytes}`);
  }

  get length(): number {
    return this.items.length;
  }

  get bytes(): number {
    return this.total;
  }

  /** Adds `item` at the tail; returns the entries evicted to make room, oldest first. */
  push(item: T): T[] {
    this.items.push(item);
    this.total += item.bytes;
    const evicted: T[] = [];
    // Index of the oldest entry that may go: behind a pinned head, never the new one.
    const first = this.pinned ? 1 : 0;
    while ((this.items.length > this.limits.maxSegments || this.total > this.limits.maxBytes) && this.items.length - first > 1) {
      const [gone] = this.items.splice(first, 1) as [T];
      this.total -= gone.bytes;
      evicted.push(gone);
    }
    return evicted;
  }

  /** The head, pinned (not evictable) until unpin() or shift(). */
  pinHead(): T | undefined {
    this.pinned = this.items.length > 0;
    return this.items[0];
  }

  unpin(): void {
    this.pinned = false;
  }

  /** Removes the head (sent or given up). */
  shift(): T | undefined {
    this.pinned = false;
    const head = this.items.shift();
    if (head) this.total -= head.bytes;
    return head;
  }

  /** Every entry, oldest first (for renumbering). */
  entries(): readonly T[] {
    return this.items;
  }
}

export type DropReason = SegmentsDroppedData['reason'];

interface OpenRun {
  reason: DropReason;
  from: number;
  to: number;
  count: number;
  since: number;
}

/**
 * Turns dropped seqs into `segments-dropped` events, one per run: drops with the same reason and
 * no segment published in between. A run closes when a later seq is published, when the reason
 * changes, when it has been open `maxOpenMs` (so a long refusal still gets reported), or on
 * close(). Closed runs wait in `ready` until the bus takes them; at most `maxReady` are kept (the
 * two oldest are merged beyond that), so a long outage cannot grow this either.
 */
export class DropRuns {
  private open?: OpenRun;
  private ready: SegmentsDroppedData[] = [];

  constructor(
    private readonly maxOpenMs = 10_000,
    private readonly maxReady = 32,
  ) {}

  add(seq: number, reason: DropReason, now = Date.now()): void {
    const o = this.open;
    if (o && o.reason === reason) {
      o.from = Math.min(o.from, seq);
      o.to = Math.max(o.to, seq);
      o.count++;
      return;
    }
    this.close();
    this.open = { reason, from: seq, to: seq, count: 1, since: now };
  }

  /** `seq` went out: a run that ended before it is complete. */
  published(seq: number): void {
    if (this.open && seq > this.open.to) this.close();
  }

  close(): void {
    const o = this.open;
    if (!o) return;
    this.open = undefined;
    this.ready.push({ reason: o.reason, from: o.from, to: o.to, count: o.count });
    while (this.ready.length > this.maxReady) {
      const [a, b] = this.ready.splice(0, 2) as [SegmentsDroppedData, SegmentsDroppedData];
      const merged = a.reason === b.reason ? { reason: a.reason, from: Math.min(a.from, b.from), to: Math.max(a.to, b.to), count: a.count + b.count } : b;
      this.ready.unshift(merged);
    }
  }

  /** Runs ready to report (an open run older than maxOpenMs is closed first); they leave the list. */
  take(now = Date.now()): SegmentsDroppedData[] {
    if (this.open && now - this.open.since >= this.maxOpenMs) this.close();
    return this.ready.splice(0);
  }

  /** Runs the bus did not take: back at the front, in order. */
  putBack(runs: SegmentsDroppedData[]): void {
    this.ready.unshift(...runs);
  }

  get pending(): boolean {
    return this.open !== undefined || this.ready.length > 0;
  }
}
