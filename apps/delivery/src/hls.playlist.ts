import type { PlaylistCheckpoint, SegmentMeta } from '@livemesh/contracts';

/** A segment as the playlist keeps it: its bytes plus what the tags need. */
export interface PlaylistSegment {
  seq: number;
  /** Seconds. */
  duration: number;
  /** Seconds on the source timeline. */
  pts: number;
  /** Wall clock (ms) when ingest cut it. */
  ingestTime: number;
  epoch: number;
  data: Uint8Array;
  /** Picture size, when a hop put it in the segment's transfer parameters. */
  width?: number;
  height?: number;
  /** Where the bytes can be read again: the message's sequence number in LM_OUT. */
  ref?: number;
}

/** A segment that made it into the playlist. */
export interface PlaylistEntry extends Omit<PlaylistSegment, 'data'> {
  /** Its bytes; absent when the entry was restored from a checkpoint (they are read back from LM_OUT by `ref`). */
  data?: Uint8Array;
  /** Size of the bytes, for the bit rate. */
  bytes: number;
  /** The EXT-X-MEDIA-SEQUENCE number of this entry. */
  msn: number;
  /** EXT-X-DISCONTINUITY precedes it. */
  discontinuity: boolean;
  /** EXT-X-PROGRAM-DATE-TIME, ms since epoch. */
  programDateTime: number;
  /** Clock time it became available to players. */
  availableAt: number;
  /** EXT-X-DISCONTINUITY tags before this entry since the stream began (its DISCONTINUITY-SEQUENCE). */
  discontinuitiesBefore: number;
}

/** A listed segment as the time-shift index keeps it: everything but its bytes. */
export type ArchivedEntry = Omit<PlaylistEntry, 'data'>;

export interface HlsPlaylistOptions {
  /** Segments listed in the live playlist (env.HLS_WINDOW). */
  window: number;
  /** Injected clock (ms); tests drive it by hand. */
  now?: () => number;
  /**
   * How long a missing seq is waited for once a later one is buffered, in target durations.
   * Default 2: long enough for a slower replica of the last hop, short enough that a player
   * holding ~3 target durations of buffer does not run dry.
   */
  gapWaitTargetDurations?: number;
  /**
   * How EXT-X-TARGETDURATION is derived from the longest EXTINF. `nearest` (default) is what
   * RFC 8216 §4.3.3.1 requires (each EXTINF rounded to the nearest integer <= target); `ceil` is
   * stricter but turns a 2.02 s cut into a 3 s target, and players hold back ~3 target durations
   * from the live edge, so it costs a third more latency for nothing.
   */
  targetDurationRounding?: 'nearest' | 'ceil';
  /** Target duration assumed before any segment was seen (env.SEGMENT_SECONDS). Default 2. */
  initialTargetDuration?: number;
  /**
   * How far back the time-shift index reaches, seconds (env.OUTPUT_RETENTION_SECONDS: what LM_OUT
   * still holds). Default 0: no index beyond the live window.
   */
  archiveSeconds?: number;
  /**
   * Most segments held waiting for a missing seq; beyond it the gap is skipped at once. Default 4 × window.
   * Also bounds how far ahead of the next expected seq a segment may be (see tooFar()).
   */
  maxBuffered?: number;
  /**
   * After end(): how long stragglers still in the chain are waited for before EXT-X-ENDLIST,
   * unless the last seq was given and everything up to it is in. Default: the gap wait.
   */
  endGraceMs?: number;
}

/** What a push() or tick() changed. */
export interface PlaylistChange {
  /** Entries appended to the playlist, in order. */
  emitted: PlaylistEntry[];
  /** Seqs given up on (their slots stay empty), as inclusive ranges: a jump costs the same whatever its size. */
  skipped: SkippedRange[];
  /** Seqs of buffered segments refused once the start was chosen, being too far ahead of it. */
  refused: number[];
  /** True when this call appended EXT-X-ENDLIST. */
  ended: boolean;
}

/** Seqs `from` to `to`, both included. */
export interface SkippedRange {
  from: number;
  to: number;
  /** Skipped at once because a gap marker said they will not come (not after the gap wait). */
  marked?: true;
}

/** `marked`: the seq will be skipped as soon as the playlist reaches it; the rest change nothing. */
export type GapOutcome = 'marked' | 'duplicate' | 'after-end' | 'too-far';

/** `too-far`: further ahead of the next expected seq than a real stream gets (forged or foreign); nothing changed. */
export type PushOutcome = 'buffered' | 'duplicate' | 'late' | 'after-end' | 'too-far';

/** How many seqs a list of skipped ranges covers. */
export function skippedCount(ranges: readonly SkippedRange[]): number {
  return ranges.reduce((n, r) => n + r.to - r.from + 1, 0);
}

export interface PushResult extends PlaylistChange {
  outcome: PushOutcome;
  /** The segment arrived ahead of a missing seq and has to wait for it. */
  waiting: boolean;
}

const SKIPPED_MEMORY = 256;
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** A segment's picture size from its transfer parameters, when a hop recorded it there. */
export function pictureSize(meta: Pick<SegmentMeta, 'transfer'>): { width?: number; height?: number } {
  const w = meta.transfer?.width;
  const h = meta.transfer?.height;
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 16_384;
  return ok(w) && ok(h) ? { width: w, height: h } : {};
}

/**
 * The live media playlist of one rendition of one stream. Pure: no I/O and no timers, the caller
 * pushes segments and calls tick() with time moving on its injected clock.
 *
 * Order: segments arrive in any order (replicas of the last hop finish out of order) and are listed
 * strictly by seq. A missing seq is waited for `gapWaitTargetDurations` target durations, counted
 * from the arrival of the earliest later segment, then skipped.
 *
 * Discontinuities: EXT-X-DISCONTINUITY is written where the media timeline breaks, which is
 * (a) when the segment's epoch differs from the previous one (the source timeline restarted), and
 * (b) after a skipped seq. For (b) the timestamps do continue, but there is a hole of one segment
 * in them; EXT-X-GAP would describe it exactly but needs protocol version 8 and a duration we do
 * not know for certain, while hls.js and Safari handle a discontinuity by resetting their timeline
 * instead of stalling at the hole. In the normal flow there is no discontinuity at all.
 */
export class HlsPlaylist {
  private readonly window: number;
  private readonly now: () => number;
  private readonly gapWaitTds: number;
  private readonly maxBuffered: number;
  private readonly endGraceMs?: number;
  private readonly roundTarget: (seconds: number) => number;

  /** Listed segments, oldest first; at most `window`. */
  private readonly entries: PlaylistEntry[] = [];
  /** Segments just slid out of the window: still served for a while (RFC 8216 §6.2.2). */
  private readonly retired: PlaylistEntry[] = [];
  /** Every listed segment within archiveSeconds, oldest first, without bytes (time-shift). */
  private readonly archive: ArchivedEntry[] = [];
  private readonly archiveMs: number;
  private discontinuities = 0;
  /** Waiting segments by seq, with their arrival time. */
  private readonly buffer = new Map<number, { segment: PlaylistSegment; arrivedAt: number }>();

  /**
   * Seqs a gap marker said will not come, at or after nextSeq: skipped the moment the playlist
   * reaches them instead of after the gap wait. At most maxBuffered.
   */
  private readonly gaps = new Set<number>();
  /** Recently skipped ranges, oldest first, to tell a late arrival from a duplicate. */
  private readonly skippedRanges: SkippedRange[] = [];
  /**
   * A dense run of too-far segments: the stream itself may have moved on (an upstream dropped
   * more than maxBuffered segments), which a forged message repeated does not look like.
   */
  private farRun?: { last: number; count: number };
  /** The far run is long enough: the next drain skips to it instead of waiting. */
  private resyncPending = false;
  private nextSeq?: number;
  private firstArrivalAt?: number;
  private mediaSequence = 0;
  private discontinuitySequence = 0;
  /** EXT-X-TARGETDURATION: never decreases, as RFC 8216 requires it not to change. */
  private targetDuration: number;
  private skipPending = false;
  private last?: PlaylistEntry;
  /** PDT anchor of the current epoch: wall clock of pts `anchorPts`. */
  private anchor?: { epoch: number; pts: number; wall: number };
  private endRequestedAt?: number;
  private lastSeq?: number;
  private endedFlag = false;

  constructor(opts: HlsPlaylistOptions) {
    if (!Number.isInteger(opts.window) || opts.window < 1) throw new RangeError('window must be a positive integer');
    this.window = opts.window;
    this.now = opts.now ?? Date.now;
    this.gapWaitTds = opts.gapWaitTargetDurations ?? 2;
    this.maxBuffered = opts.maxBuffered ?? 4 * opts.window;
    this.endGraceMs = opts.endGraceMs;
    this.archiveMs = Math.max(0, opts.archiveSeconds ?? 0) * 1000;
    this.roundTarget = opts.targetDurationRounding === 'ceil' ? Math.ceil : Math.round;
    this.targetDuration = Math.max(1, Math.ceil(opts.initialTargetDuration ?? 2));
  }

  get ended(): boolean {
    return this.endedFlag;
  }

  /** Segments currently listed, oldest first. */
  get listed(): readonly PlaylistEntry[] {
    return this.entries;
  }

  get bufferedCount(): number {
    return this.buffer.size;
  }

  /** How long a missing seq is waited for, ms. */
  get gapWaitMs(): number {
    return this.gapWaitTds * this.targetDuration * 1000;
  }

  /** Peak and average bit rate over the listed segments, for EXT-X-STREAM-INF. */
  bandwidth(): { peak: number; average: number } | undefined {
    if (this.entries.length === 0) return undefined;
    let peak = 0;
    let bytes = 0;
    let seconds = 0;
    for (const e of this.entries) {
      const d = Math.max(e.duration, 0.001);
      peak = Math.max(peak, (e.bytes * 8) / d);
      bytes += e.bytes;
      seconds += d;
    }
    return { peak: Math.ceil(peak), average: Math.ceil((bytes * 8) / seconds) };
  }

  /** Picture size of the newest listed segment that carries one. */
  resolution(): { width: number; height: number } | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.width !== undefined && e.height !== undefined) return { width: e.width, height: e.height };
    }
    return undefined;
  }

  /** A listed (or just retired) segment by seq. */
  segment(seq: number): PlaylistEntry | undefined {
    return this.entries.find((e) => e.seq === seq) ?? this.retired.find((e) => e.seq === seq);
  }

  /** The time-shift index: listed segments still within archiveSeconds, oldest first (the live window included). */
  get archived(): readonly ArchivedEntry[] {
    return this.archive;
  }

  /** An indexed segment (bytes not held), for a time-shifted request. */
  archivedSegment(seq: number): ArchivedEntry | undefined {
    return binarySearch(this.archive, seq);
  }

  /**
   * The seq a viewer asking to start `secondsBehind` behind the live edge starts at: the first
   * indexed segment whose wall-clock time is not earlier than that, else the oldest one.
   */
  seqBehindLive(secondsBehind: number): number | undefined {
    const last = this.archive.at(-1);
    if (!last) return undefined;
    const target = last.programDateTime + last.duration * 1000 - secondsBehind * 1000;
    return (this.archive.find((e) => e.programDateTime >= target) ?? last).seq;
  }

  /**
   * A playlist from `fromSeq` (or the oldest indexed segment after it) to the live edge, for a
   * viewer who starts behind live. `event` makes it an EVENT playlist (RFC 8216 §4.3.3.5), which
   * players treat as growing from a fixed start; otherwise it is a live playlist with EXT-X-START
   * at its first segment, so a player starts there instead of near the live edge.
   */
  renderFrom(fromSeq: number | undefined, opts: { event?: boolean; uriPrefix?: string } = {}): string | undefined {
    const first = fromSeq === undefined ? 0 : this.archive.findIndex((e) => e.seq >= fromSeq);
    if (first < 0 || this.archive.length === 0) return undefined;
    const list = this.archive.slice(first);
    const head = list[0]!;
    const lines = ['#EXTM3U', '#EXT-X-VERSION:6', `#EXT-X-TARGETDURATION:${this.targetDuration}`, `#EXT-X-MEDIA-SEQUENCE:${head.msn}`];
    if (head.discontinuitiesBefore > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${head.discontinuitiesBefore}`);
    if (opts.event) lines.push('#EXT-X-PLAYLIST-TYPE:EVENT');
    lines.push('#EXT-X-START:TIME-OFFSET=0,PRECISE=YES');
    this.renderEntries(lines, list, opts.uriPrefix ?? '');
    if (this.endedFlag) lines.push('#EXT-X-ENDLIST');
    return lines.join('\n') + '\n';
  }

  /**
   * Everything needed to go on where this playlist stands, without bytes and without the reorder
   * buffer (its segments are read again: see lowestBufferedRef). The window is not repeated in
   * the archive.
   */
  checkpoint(): PlaylistCheckpoint {
    const windowFrom = this.entries[0]?.seq ?? Infinity;
    return {
      entries: this.entries.map(({ data: _bytes, ...e }) => e),
      archive: this.archive.filter((e) => e.seq < windowFrom),
      nextSeq: this.nextSeq,
      mediaSequence: this.mediaSequence,
      discontinuitySequence: this.discontinuitySequence,
      discontinuities: this.discontinuities,
      targetDuration: this.targetDuration,
      skipPending: this.skipPending,
      anchor: this.anchor && { ...this.anchor },
      gaps: [...this.gaps],
      skippedRanges: this.skippedRanges.map((r) => ({ ...r })),
      endRequestedAt: this.endRequestedAt,
      lastSeq: this.lastSeq,
      ended: this.endedFlag,
    };
  }

  /** A playlist that goes on from a checkpoint (validated by the caller: checkpoint.codec.ts). */
  static restore(opts: HlsPlaylistOptions, cp: PlaylistCheckpoint): HlsPlaylist {
    const p = new HlsPlaylist(opts);
    const now = p.now();
    // A smaller window after a restart: the oldest entries slide out as if appended one by one.
    const drop = Math.max(0, cp.entries.length - p.window);
    const windowEntries = cp.entries.slice(drop);
    p.entries.push(...windowEntries);
    p.mediaSequence = cp.mediaSequence + drop;
    p.discontinuitySequence = cp.discontinuitySequence + cp.entries.slice(0, drop).filter((e) => e.discontinuity).length;
    if (p.archiveMs > 0) {
      p.archive.push(...cp.archive, ...cp.entries.map((e) => ({ ...e })));
      while (p.archive.length > 1 && now - p.archive[0]!.ingestTime > p.archiveMs) p.archive.shift();
    }
    p.nextSeq = cp.nextSeq;
    p.discontinuities = cp.discontinuities;
    p.targetDuration = Math.max(p.targetDuration, cp.targetDuration);
    p.skipPending = cp.skipPending;
    p.anchor = cp.anchor && { ...cp.anchor };
    for (const g of cp.gaps.slice(0, p.maxBuffered)) p.gaps.add(g);
    p.skippedRanges.push(...cp.skippedRanges.slice(-SKIPPED_MEMORY));
    p.last = cp.entries.at(-1);
    p.endRequestedAt = cp.endRequestedAt;
    p.lastSeq = cp.lastSeq;
    p.endedFlag = cp.ended;
    return p;
  }

  /** LM_OUT sequence of the earliest segment waiting in the reorder buffer (a checkpoint must not pass it). */
  lowestBufferedRef(): number | undefined {
    let lowest: number | undefined;
    for (const { segment } of this.buffer.values()) if (segment.ref !== undefined && (lowest === undefined || segment.ref < lowest)) lowest = segment.ref;
    return lowest;
  }

  /** Accepts a segment; emits whatever became contiguous. */
  push(segment: PlaylistSegment): PushResult {
    const now = this.now();
    const none = { emitted: [], skipped: [], refused: [], ended: false, waiting: false };
    if (this.endedFlag) return { ...none, outcome: 'after-end' };
    if (!Number.isSafeInteger(segment.seq) || segment.seq < 0) return { ...none, outcome: 'too-far' };
    if (this.nextSeq !== undefined && segment.seq < this.nextSeq) {
      return { ...none, outcome: this.wasSkipped(segment.seq) ? 'late' : 'duplicate' };
    }
    if (this.buffer.has(segment.seq)) return { ...none, outcome: 'duplicate' };
    if (this.tooFar(segment.seq)) {
      if (!this.followsFarRun(segment.seq)) return { ...none, outcome: 'too-far' };
      this.resyncPending = true;
    } else {
      this.farRun = undefined;
    }
    this.buffer.set(segment.seq, { segment, arrivedAt: now });
    this.firstArrivalAt ??= now;
    const change = this.drain(now);
    const waiting = this.buffer.has(segment.seq);
    return { ...change, outcome: 'buffered', waiting };
  }

  /**
   * An upstream hop dropped `seq` (it could not make its latency budget): it will not come, so the
   * playlist skips it as soon as it reaches it, with a discontinuity as for any skipped seq, rather
   * than holding the segments behind it for the gap wait. A marker for a seq already listed,
   * skipped or buffered changes nothing (the real segment won); one too far ahead is refused.
   */
  markGap(seq: number): PlaylistChange & { outcome: GapOutcome } {
    const none = { emitted: [], skipped: [], refused: [], ended: false };
    if (this.endedFlag) return { ...none, outcome: 'after-end' };
    if (!Number.isSafeInteger(seq) || seq < 0 || this.tooFar(seq)) return { ...none, outcome: 'too-far' };
    if ((this.nextSeq !== undefined && seq < this.nextSeq) || this.buffer.has(seq) || this.gaps.has(seq)) return { ...none, outcome: 'duplicate' };
    if (this.gaps.size >= this.maxBuffered) return { ...none, outcome: 'too-far' };
    this.gaps.add(seq);
    return { ...this.drain(this.now()), outcome: 'marked' };
  }

  /** Lets time pass: skips gaps waited for long enough, ends the playlist when its grace is over. */
  tick(): PlaylistChange {
    if (this.endedFlag) return { emitted: [], skipped: [], refused: [], ended: false };
    return this.drain(this.now());
  }

  /**
   * The stream ended. EXT-X-ENDLIST is appended once segments up to `lastSeq` are in (when known)
   * or after the end grace, whichever comes first; what is still buffered then is listed first.
   */
  end(lastSeq?: number): PlaylistChange {
    if (this.endedFlag) return { emitted: [], skipped: [], refused: [], ended: false };
    this.endRequestedAt ??= this.now();
    if (lastSeq !== undefined && Number.isInteger(lastSeq) && lastSeq >= 0) this.lastSeq = lastSeq;
    return this.drain(this.now());
  }

  /** The media playlist. `uriPrefix` is put before `<seq>.ts` (e.g. `main/` when served one level up). */
  render(uriPrefix = ''): string {
    const lines = [
      '#EXTM3U',
      '#EXT-X-VERSION:3',
      `#EXT-X-TARGETDURATION:${this.targetDuration}`,
      `#EXT-X-MEDIA-SEQUENCE:${this.mediaSequence}`,
    ];
    if (this.discontinuitySequence > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${this.discontinuitySequence}`);
    this.renderEntries(lines, this.entries, uriPrefix);
    if (this.endedFlag) lines.push('#EXT-X-ENDLIST');
    return lines.join('\n') + '\n';
  }

  private renderEntries(lines: string[], list: readonly ArchivedEntry[], uriPrefix: string): void {
    for (const e of list) {
      if (e.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(e.programDateTime).toISOString()}`);
      lines.push(`#EXTINF:${e.duration.toFixed(3)},`);
      lines.push(`${uriPrefix}${e.seq}.ts`);
    }
  }

  private drain(now: number): PlaylistChange {
    const change: PlaylistChange = { emitted: [], skipped: [], refused: [], ended: false };
    if (this.nextSeq === undefined) {
      if (this.buffer.size === 0) return this.maybeEnd(now, change);
      // Seq 0 starts a stream; otherwise (delivery joined late or restarted) an earlier seq may
      // still be on its way, so the start is chosen only after the gap wait.
      const lowest = Math.min(...this.buffer.keys());
      // Every seq before the lowest one was marked as a gap: nothing earlier can come.
      const markedFromZero = lowest > 0 && this.gaps.size >= lowest && this.gaps.has(0) && this.coveredByGaps(0, lowest - 1);
      if (lowest === 0 || markedFromZero || now - this.firstArrivalAt! >= this.gapWaitMs || this.endDue(now) || this.buffer.size > this.maxBuffered) {
        this.nextSeq = markedFromZero ? 0 : lowest;
        // A forged seq that arrived before the real ones must not become a jump target.
        for (const seq of this.buffer.keys()) if (this.tooFar(seq)) change.refused.push(seq);
        for (const seq of change.refused) this.buffer.delete(seq);
        for (const g of this.gaps) if (g < this.nextSeq || this.tooFar(g)) this.gaps.delete(g);
      } else {
        return change;
      }
    }
    for (;;) {
      const hit = this.buffer.get(this.nextSeq);
      if (hit) {
        this.buffer.delete(this.nextSeq);
        change.emitted.push(this.append(hit.segment, now));
        this.nextSeq++;
        continue;
      }
      if (this.gaps.has(this.nextSeq)) {
        const range: SkippedRange = { from: this.nextSeq, to: this.nextSeq, marked: true };
        while (this.gaps.delete(this.nextSeq)) range.to = this.nextSeq++;
        change.skipped.push(range);
        this.rememberSkipped(range);
        this.skipPending = true;
        continue;
      }
      if (this.buffer.size === 0) break;
      const waitingSince = Math.min(...[...this.buffer.values()].map((b) => b.arrivedAt));
      if (now - waitingSince >= this.gapWaitMs || this.buffer.size > this.maxBuffered || this.endDue(now) || this.resyncPending) {
        const lowest = Math.min(...this.buffer.keys());
        // A range, never one entry per seq: the cost must not depend on how far the seq jumped.
        const range = { from: this.nextSeq, to: lowest - 1 };
        change.skipped.push(range);
        this.rememberSkipped(range);
        this.nextSeq = lowest;
        // Markers inside the jumped range are spent.
        for (const g of this.gaps) if (g < lowest) this.gaps.delete(g);
        this.skipPending = true;
        continue;
      }
      break;
    }
    if (this.buffer.size === 0) this.resyncPending = false;
    return this.maybeEnd(now, change);
  }

  /**
   * Whether a seq is more than 2 × maxBuffered ahead of the next expected one (or of the lowest
   * buffered one, before the start is chosen). A real stream's seqs are dense: the reorder buffer
   * holds at most maxBuffered segments behind a gap before skipping it, so a gap of maxBuffered
   * lost seqs plus a full buffer behind it is the furthest a real segment gets ahead. One beyond
   * that is a forged or foreign message; accepting it would make every real segment after it a
   * "duplicate" and the stream would stop. (A stream that did move on is followed: followsFarRun.)
   */
  private tooFar(seq: number): boolean {
    const from = this.nextSeq ?? (this.buffer.size > 0 ? Math.min(...this.buffer.keys()) : undefined);
    return from !== undefined && seq > from + 2 * this.maxBuffered;
  }

  /**
   * Counts a dense run of too-far seqs; true once it is longer than maxBuffered, when the stream
   * has truly moved on (after a long upstream outage) and the playlist follows it. The same forged
   * message repeated never grows the run.
   */
  private followsFarRun(seq: number): boolean {
    const run = this.farRun;
    if (run && seq === run.last + 1) {
      run.last = seq;
      run.count++;
    } else if (!run || seq !== run.last) {
      this.farRun = { last: seq, count: 1 };
    }
    if (this.farRun!.count <= this.maxBuffered) return false;
    this.farRun = undefined;
    return true;
  }

  private rememberSkipped(range: SkippedRange): void {
    this.skippedRanges.push(range);
    if (this.skippedRanges.length > SKIPPED_MEMORY) this.skippedRanges.shift();
  }

  /** Whether every seq from `from` to `to` is marked as a gap. */
  private coveredByGaps(from: number, to: number): boolean {
    for (let seq = from; seq <= to; seq++) if (!this.gaps.has(seq)) return false;
    return true;
  }

  private wasSkipped(seq: number): boolean {
    return this.skippedRanges.some((r) => seq >= r.from && seq <= r.to);
  }

  private endDue(now: number): boolean {
    return this.endRequestedAt !== undefined && now - this.endRequestedAt >= (this.endGraceMs ?? this.gapWaitMs);
  }

  private maybeEnd(now: number, change: PlaylistChange): PlaylistChange {
    if (this.endRequestedAt === undefined || this.endedFlag) return change;
    const allIn = this.lastSeq !== undefined && this.nextSeq !== undefined && this.nextSeq > this.lastSeq && this.buffer.size === 0;
    if (allIn || (this.endDue(now) && this.buffer.size === 0)) {
      this.endedFlag = true;
      change.ended = true;
    }
    return change;
  }

  private append(s: PlaylistSegment, now: number): PlaylistEntry {
    const epochChanged = this.last !== undefined && this.last.epoch !== s.epoch;
    const discontinuity = this.last !== undefined && (epochChanged || this.skipPending);
    this.skipPending = false;
    if (!this.anchor || this.anchor.epoch !== s.epoch || discontinuity) {
      // ingestTime is when the cut finished, i.e. the wall clock at the segment's end.
      this.anchor = { epoch: s.epoch, pts: s.pts, wall: s.ingestTime - s.duration * 1000 };
    }
    const programDateTime = Math.round(this.anchor.wall + (s.pts - this.anchor.pts) * 1000);
    // The first listed seq numbers the playlist, so MEDIA-SEQUENCE and URIs line up while nothing is skipped.
    if (this.last === undefined) this.mediaSequence = s.seq;
    const entry: PlaylistEntry = {
      ...s,
      bytes: s.data.byteLength,
      duration: round3(s.duration),
      msn: this.mediaSequence + this.entries.length,
      discontinuity,
      programDateTime,
      availableAt: now,
      discontinuitiesBefore: this.discontinuities,
    };
    if (discontinuity) this.discontinuities++;
    if (this.archiveMs > 0) {
      const { data: _bytes, ...indexed } = entry;
      this.archive.push(indexed);
      // By the cut time, as LM_OUT ages messages out: a replay after a restart must not outlive them.
      while (this.archive.length > 1 && now - this.archive[0]!.ingestTime > this.archiveMs) this.archive.shift();
    }
    this.targetDuration = Math.max(this.targetDuration, this.roundTarget(entry.duration));
    this.entries.push(entry);
    this.last = entry;
    while (this.entries.length > this.window) {
      const gone = this.entries.shift()!;
      this.mediaSequence++;
      // RFC 8216 §6.2.2: removing an EXT-X-DISCONTINUITY tag increments EXT-X-DISCONTINUITY-SEQUENCE.
      if (gone.discontinuity) this.discontinuitySequence++;
      this.retired.push(gone);
      if (this.retired.length > this.window) this.retired.shift();
    }
    return entry;
  }
}

/** Entries are sorted by seq (they are appended in seq order). */
function binarySearch(list: readonly ArchivedEntry[], seq: number): ArchivedEntry | undefined {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = list[mid]!;
    if (e.seq === seq) return e;
    if (e.seq < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}
