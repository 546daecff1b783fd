import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ENV, type DeliveryStreamCheckpoint, type Segment, type SegmentMeta, type DeliverySettings } from '@livemesh/contracts';
import { DeliveryMetrics } from './delivery.metrics.js';
import { renderMultivariant, type VariantInfo } from './hls.multivariant.js';
import { HlsPlaylist, pictureSize, skippedCount, type PlaylistChange, type PlaylistEntry } from './hls.playlist.js';
import { Refusals } from './refusals.js';

interface StreamState {
  renditions: Map<string, HlsPlaylist>;
  lastSegmentAt: number;
  /** Newest ingest time of any segment of this session (ms). */
  lastIngestTime: number;
  /** Set once end() was called; new renditions of an ending stream end at once. */
  endRequested?: { lastSeq?: number; at: number };
  /** When the last rendition appended EXT-X-ENDLIST. */
  endedAt?: number;
  /**
   * Seqs gap markers named for a rendition without a playlist yet (dropped before a rendition
   * ladder fanned out, or before the first segment): every playlist created later skips them too.
   */
  pendingGaps: number[];
  /** Changed since its last checkpoint. */
  dirty: boolean;
  /** When its checkpoint was last taken (ms), 0 for never. */
  checkpointedAt: number;
}

/**
 * A stream unchanged for this long is checkpointed again anyway: its `resumeAfter` moves up to the
 * current position, so one quiet stream does not keep a restart reading (past) everyone's messages
 * since it last changed.
 */
const CHECKPOINT_REFRESH_MS = 30_000;

/** Gap markers remembered per stream for renditions not seen yet. */
const MAX_PENDING_GAPS = 64;

/** What the HTTP origin serves for `/hls/<streamId>/index.m3u8`. */
export type StreamIndex =
  | { kind: 'media'; text: string; ended: boolean }
  | { kind: 'multivariant'; text: string; ended: boolean };

/** How a segment reached delivery. */
export interface AcceptOptions {
  /** Its sequence number in LM_OUT, so the time-shift index can read its bytes back. */
  ref?: number;
  /** Read back from LM_OUT's history at boot (rebuilding the window), not arriving live. */
  replayed?: boolean;
}

/** Called for every segment listed in a playlist. */
export type ListedListener = (streamId: string, rendition: string, entry: PlaylistEntry, replayed: boolean) => void;
/** Called when a stream ends (every rendition has EXT-X-ENDLIST) or is dropped from memory. */
export type StreamGoneListener = (streamId: string, why: 'ended' | 'dropped') => void;

const TICK_MS = 250;
/**
 * Renditions one stream may have. A pipeline declares at most 16 stages and an ABR ladder a few
 * renditions; each rendition costs a playlist and a window of bytes, so a flood of forged
 * rendition names on one stream must hit a wall.
 */
export const MAX_RENDITIONS_PER_STREAM = 32;

/**
 * Every stream's playlists, in memory. Drives the pure HlsPlaylist objects with the wall clock,
 * turns their changes into logs and metrics, and forgets a stream DELIVERY_KEEP_SECONDS after it
 * ended or went silent.
 *
 * Sessions: a stream id can be started again after it ended. An `ended` event applies to the
 * segments cut before it (their ingest time is earlier); a segment cut clearly after an end (by
 * more than a segment length: a new session needs a new start and a whole first segment) starts a
 * new session of the id. Both survive any order of arrival, as after a restart, when LM_OUT and
 * LM_EVT are read back side by side, and clocks of different hosts that differ a little.
 */
@Injectable()
export class HlsRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(HlsRegistry.name);
  private readonly streams = new Map<string, StreamState>();
  /** Ends of streams with no segment here yet (read back before their segments). */
  private readonly earlyEnds = new Map<string, { lastSeq?: number; at: number; seenAt: number }>();
  private readonly listedListeners: ListedListener[] = [];
  private readonly goneListeners: StreamGoneListener[] = [];
  private timer?: NodeJS.Timeout;
  /** Streams forgotten since the last takeForgotten(): their checkpoints are deleted. */
  private readonly forgotten = new Set<string>();
  private readonly keepMs: number;
  private readonly sessionMarginMs: number;

  constructor(
    @Inject(ENV) private readonly env: DeliverySettings,
    private readonly metrics: DeliveryMetrics,
    private readonly refusals: Refusals,
  ) {
    this.keepMs = env.DELIVERY_KEEP_SECONDS * 1000;
    this.sessionMarginMs = env.SEGMENT_SECONDS * 1000;
  }

  onModuleInit(): void {
    // Gap waits and end graces run out between arrivals, so time has to be pushed in from outside.
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  get streamCount(): number {
    return this.streams.size;
  }

  onListed(listener: ListedListener): void {
    this.listedListeners.push(listener);
  }

  onStreamGone(listener: StreamGoneListener): void {
    this.goneListeners.push(listener);
  }

  /** Takes a validated segment off the output subject. */
  accept(segment: Segment, opts: AcceptOptions = {}): void {
    const { meta } = segment;
    const now = Date.now();
    const stream = this.session(meta, now, opts);
    let playlist = stream.renditions.get(meta.rendition);
    if (!playlist) {
      playlist = this.newPlaylist(meta, stream, now);
      if (!playlist) return;
    }
    const result = playlist.push({
      seq: meta.seq,
      duration: meta.duration,
      pts: meta.pts,
      ingestTime: meta.ingestTime,
      epoch: meta.epoch,
      data: segment.data,
      ref: opts.ref,
      ...pictureSize(meta),
    });
    if (result.outcome === 'too-far') {
      this.refusals.refuse(meta.streamId, 'seq-too-far', `${meta.rendition} seq ${meta.seq} is too far ahead of the playlist`);
    } else if (result.outcome !== 'buffered') {
      this.metrics.dropped.inc({ reason: result.outcome });
      this.logger.debug(`stream ${meta.streamId}/${meta.rendition}: seq ${meta.seq} dropped (${result.outcome})`);
    } else if (result.waiting) {
      this.metrics.reorderWaits.inc();
      this.logger.debug(`stream ${meta.streamId}/${meta.rendition}: seq ${meta.seq} waits for an earlier seq`);
    }
    this.applied(meta.streamId, meta.rendition, stream, result, now, opts.replayed ?? false);
  }

  /**
   * A validated gap marker: an upstream hop dropped seq `meta.seq` (late). Its rendition's
   * playlist skips the seq as soon as it gets there. A marker for a rendition with no playlist
   * was dropped before a rendition ladder fanned out (or before the stream's first segment): it
   * applies to every playlist of the stream, present and to come.
   */
  markGap(meta: SegmentMeta, opts: AcceptOptions = {}): void {
    const now = Date.now();
    const stream = this.session(meta, now, opts);
    const own = stream.renditions.get(meta.rendition);
    const targets = own ? [[meta.rendition, own] as const] : [...stream.renditions];
    if (!own) {
      stream.pendingGaps.push(meta.seq);
      if (stream.pendingGaps.length > MAX_PENDING_GAPS) stream.pendingGaps.shift();
    }
    for (const [rendition, playlist] of targets) {
      const result = playlist.markGap(meta.seq);
      if (result.outcome === 'too-far') this.refusals.refuse(meta.streamId, 'seq-too-far', `gap marker for ${rendition} seq ${meta.seq} is too far ahead of the playlist`);
      else this.logger.debug(`stream ${meta.streamId}/${rendition}: seq ${meta.seq} marked as a gap (${meta.gap}): ${result.outcome}`);
      this.applied(meta.streamId, rendition, stream, result, now, opts.replayed ?? false);
    }
  }

  /** The stream a segment or marker belongs to: its current session, or a new one. */
  private session(meta: SegmentMeta, now: number, opts: AcceptOptions): StreamState {
    let stream = this.streams.get(meta.streamId);
    if (stream?.endRequested && meta.ingestTime > stream.endRequested.at + this.sessionMarginMs) {
      this.logger.log(`stream ${meta.streamId}: a segment cut after its end (seq ${meta.seq}); a new session of the id begins`);
      this.forget(meta.streamId, 'dropped');
      stream = undefined;
    }
    if (!stream) {
      stream = { renditions: new Map(), lastSegmentAt: now, lastIngestTime: meta.ingestTime, pendingGaps: [], dirty: true, checkpointedAt: 0 };
      this.streams.set(meta.streamId, stream);
      this.metrics.streams.set(this.streams.size);
      this.logger.log(`stream ${meta.streamId}: first segment (rendition ${meta.rendition}, seq ${meta.seq}${opts.replayed ? ', read back from LM_OUT' : ''})`);
      const early = this.earlyEnds.get(meta.streamId);
      if (early && early.at + this.sessionMarginMs >= meta.ingestTime) stream.endRequested = { lastSeq: early.lastSeq, at: early.at };
      this.earlyEnds.delete(meta.streamId);
    }
    stream.lastSegmentAt = now;
    stream.lastIngestTime = Math.max(stream.lastIngestTime, meta.ingestTime);
    stream.dirty = true;
    return stream;
  }

  /** A rendition's playlist, with the stream's pending gaps and end applied; undefined past the rendition limit. */
  private newPlaylist(meta: SegmentMeta, stream: StreamState, now: number): HlsPlaylist | undefined {
    if (stream.renditions.size >= MAX_RENDITIONS_PER_STREAM) {
      this.refusals.refuse(meta.streamId, 'rendition-limit', `rendition ${meta.rendition} would be more than ${MAX_RENDITIONS_PER_STREAM}`);
      return undefined;
    }
    const playlist = new HlsPlaylist(this.playlistOptions());
    stream.renditions.set(meta.rendition, playlist);
    for (const seq of stream.pendingGaps) this.applied(meta.streamId, meta.rendition, stream, playlist.markGap(seq), now, false);
    if (stream.endRequested) playlist.end(stream.endRequested.lastSeq);
    return playlist;
  }

  private playlistOptions(): { window: number; initialTargetDuration: number; archiveSeconds: number } {
    return { window: this.env.HLS_WINDOW, initialTargetDuration: this.env.SEGMENT_SECONDS, archiveSeconds: this.env.OUTPUT_RETENTION_SECONDS };
  }

  /**
   * Checkpoints of the streams changed since `dirtyOnly` was last asked, or not written for
   * CHECKPOINT_REFRESH_MS (all streams when false),
   * each taken when LM_OUT was handled up to `handledSeq`. A stream with segments waiting in a
   * reorder buffer resumes before the first of them, so they are read again rather than lost.
   * Clears the dirty marks: call again after a failed write with `dirtyOnly` false.
   */
  checkpoints(handledSeq: number, dirtyOnly: boolean, now = Date.now()): DeliveryStreamCheckpoint[] {
    const takenAt = new Date(now).toISOString();
    const out: DeliveryStreamCheckpoint[] = [];
    for (const [streamId, stream] of this.streams) {
      if (dirtyOnly && !stream.dirty && now - stream.checkpointedAt < CHECKPOINT_REFRESH_MS) continue;
      stream.dirty = false;
      stream.checkpointedAt = now;
      let resumeAfter = handledSeq;
      const renditions: DeliveryStreamCheckpoint['renditions'] = {};
      for (const [rendition, playlist] of stream.renditions) {
        renditions[rendition] = playlist.checkpoint();
        const waiting = playlist.lowestBufferedRef();
        if (waiting !== undefined) resumeAfter = Math.min(resumeAfter, waiting - 1);
      }
      out.push({
        kind: 'stream',
        streamId,
        resumeAfter,
        lastIngestTime: stream.lastIngestTime,
        endRequested: stream.endRequested && { ...stream.endRequested },
        endedAt: stream.endedAt,
        pendingGaps: [...stream.pendingGaps],
        renditions,
        takenAt,
      });
    }
    return out;
  }

  /** Marks every stream changed, so the next checkpoint writes them all (after a failed write). */
  markAllDirty(): void {
    for (const stream of this.streams.values()) stream.dirty = true;
  }

  /**
   * A stream as a checkpoint left it (validated: checkpoint.codec.ts), without bytes: a player
   * asking for a restored segment is served from LM_OUT by its ref. No listeners hear of the
   * restored entries (they were listed before the restart).
   */
  restore(cp: DeliveryStreamCheckpoint, now = Date.now()): void {
    const renditions = new Map<string, HlsPlaylist>();
    for (const [rendition, p] of Object.entries(cp.renditions).slice(0, MAX_RENDITIONS_PER_STREAM)) {
      renditions.set(rendition, HlsPlaylist.restore(this.playlistOptions(), p));
    }
    this.streams.set(cp.streamId, {
      renditions,
      // Silent-stream expiry counts from the restore: the downtime is not the stream's silence.
      lastSegmentAt: now,
      lastIngestTime: cp.lastIngestTime,
      endRequested: cp.endRequested,
      endedAt: cp.endedAt === undefined ? undefined : now,
      pendingGaps: cp.pendingGaps.slice(-MAX_PENDING_GAPS),
      dirty: false,
      checkpointedAt: now,
    });
    this.metrics.streams.set(this.streams.size);
    // An end read from LM_EVT before the restore.
    const early = this.earlyEnds.get(cp.streamId);
    this.earlyEnds.delete(cp.streamId);
    if (early) this.end(cp.streamId, early.lastSeq, early.at);
  }

  /**
   * The stream ended at `at` (ms): its playlists get EXT-X-ENDLIST once the stragglers are in (or
   * their grace ran out). An end older than the stream's newest segment belongs to an earlier
   * session of the id and is ignored.
   */
  end(streamId: string, lastSeq?: number, at = Date.now()): void {
    const stream = this.streams.get(streamId);
    if (!stream) {
      this.earlyEnds.set(streamId, { lastSeq, at, seenAt: Date.now() });
      this.logger.debug(`stream ${streamId}: ended, but no segment of it was delivered here (yet)`);
      return;
    }
    if (stream.endRequested) return;
    if (stream.lastIngestTime > at + this.sessionMarginMs) {
      this.logger.debug(`stream ${streamId}: an end from ${new Date(at).toISOString()} predates its segments; ignored`);
      return;
    }
    stream.endRequested = { lastSeq, at };
    stream.dirty = true;
    this.logger.log(`stream ${streamId}: ended${lastSeq === undefined ? '' : ` at seq ${lastSeq}`}; closing its playlists`);
    const now = Date.now();
    for (const [rendition, playlist] of stream.renditions) this.applied(streamId, rendition, stream, playlist.end(lastSeq), now, false);
  }

  /** Advances every playlist's clock and forgets streams kept long enough. */
  tick(now = Date.now()): void {
    for (const [streamId, stream] of this.streams) {
      for (const [rendition, playlist] of stream.renditions) this.applied(streamId, rendition, stream, playlist.tick(), now, false);
      const since = stream.endedAt ?? stream.lastSegmentAt;
      if (now - since >= this.keepMs && (stream.endedAt !== undefined || stream.endRequested === undefined)) {
        this.forget(streamId, 'dropped');
        this.logger.log(`stream ${streamId}: dropped from memory (${stream.endedAt !== undefined ? 'ended' : 'silent'} for ${Math.round((now - since) / 1000)} s)`);
      }
    }
    for (const [id, e] of this.earlyEnds) if (now - e.seenAt >= this.keepMs) this.earlyEnds.delete(id);
  }

  /** `/hls/<streamId>/index.m3u8`: the media playlist of a single rendition, else the multivariant playlist. */
  streamIndex(streamId: string): StreamIndex | undefined {
    const live = this.liveRenditions(streamId);
    if (!live || live.length === 0) return undefined;
    if (live.length === 1) {
      const [rendition, playlist] = live[0]!;
      return { kind: 'media', text: playlist.render(`${rendition}/`), ended: playlist.ended };
    }
    return { kind: 'multivariant', ...renderVariants(live) };
  }

  /** The multivariant playlist of a stream whose variants link to `file` (time-shifted or event playlists). */
  multivariant(streamId: string, file: string): { text: string; ended: boolean } | undefined {
    const live = this.liveRenditions(streamId);
    if (!live || live.length < 2) return undefined;
    return renderVariants(live, file);
  }

  /** Renditions with at least one listed segment, or undefined for an unknown stream. */
  liveRenditions(streamId: string): [string, HlsPlaylist][] | undefined {
    const stream = this.streams.get(streamId);
    if (!stream) return undefined;
    return [...stream.renditions].filter(([, p]) => p.listed.length > 0);
  }

  /**
   * The seq a viewer `secondsBehind` the live edge starts at, taken from the stream's first
   * rendition so every rendition of a multivariant playlist starts at the same seq.
   */
  seqBehindLive(streamId: string, secondsBehind: number): number | undefined {
    const first = this.liveRenditions(streamId)?.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))[0];
    return first?.[1].seqBehindLive(secondsBehind);
  }

  /** Whether the stream is known at all (for telling "unknown stream" from "no segments yet"). */
  hasStream(streamId: string): boolean {
    return this.streams.has(streamId);
  }

  /** A rendition's playlist, once it lists at least one segment. */
  playlist(streamId: string, rendition: string): HlsPlaylist | undefined {
    const p = this.streams.get(streamId)?.renditions.get(rendition);
    return p && p.listed.length > 0 ? p : undefined;
  }

  /** A segment whose bytes are held (live window and just retired). */
  segment(streamId: string, rendition: string, seq: number): PlaylistEntry | undefined {
    return this.streams.get(streamId)?.renditions.get(rendition)?.segment(seq);
  }

  /** Where an older, indexed segment's bytes are in LM_OUT (time-shift), if it is indexed. */
  archivedRef(streamId: string, rendition: string, seq: number): number | undefined {
    return this.streams.get(streamId)?.renditions.get(rendition)?.archivedSegment(seq)?.ref;
  }

  /** A forgotten stream whose checkpoint could not be deleted: tried again in the next round. */
  forgetLater(streamId: string): void {
    this.forgotten.add(streamId);
  }

  /** Streams forgotten since the last call (a stream restarted since is not among them). */
  takeForgotten(): string[] {
    const out = [...this.forgotten].filter((id) => !this.streams.has(id));
    this.forgotten.clear();
    return out;
  }

  private forget(streamId: string, why: 'ended' | 'dropped'): void {
    this.streams.delete(streamId);
    this.forgotten.add(streamId);
    this.refusals.forget(streamId);
    this.metrics.streams.set(this.streams.size);
    for (const l of this.goneListeners) l(streamId, why);
  }

  private applied(streamId: string, rendition: string, stream: StreamState, change: PlaylistChange, now: number, replayed: boolean): void {
    if (change.emitted.length > 0 || change.skipped.length > 0 || change.ended) stream.dirty = true;
    for (const { from, to, marked } of change.skipped) {
      const seqs = from === to ? `seq ${from}` : `seqs ${from}-${to}`;
      this.logger.warn(`stream ${streamId}/${rendition}: ${seqs} ${marked ? 'dropped upstream (gap marker)' : 'never arrived'}; skipped (discontinuity)`);
    }
    this.metrics.skipped.inc(skippedCount(change.skipped));
    for (const seq of change.refused) this.refusals.refuse(streamId, 'seq-too-far', `${rendition} seq ${seq} is too far ahead of the playlist`);
    for (const e of change.emitted) {
      this.metrics.delivered.inc();
      // A segment read back at boot became available long ago: its "latency" would be the downtime.
      if (!replayed) this.metrics.ingestToPlaylist.observe(Math.max(0, (e.availableAt - e.ingestTime) / 1000));
      this.logger.verbose(`stream ${streamId}/${rendition}: seq ${e.seq} listed (${e.duration.toFixed(3)} s${e.discontinuity ? ', discontinuity' : ''})`);
      for (const l of this.listedListeners) l(streamId, rendition, e, replayed);
    }
    if (change.ended) {
      this.logger.log(`stream ${streamId}/${rendition}: EXT-X-ENDLIST`);
      if ([...stream.renditions.values()].every((p) => p.ended)) {
        stream.endedAt = now;
        for (const l of this.goneListeners) l(streamId, 'ended');
      }
    }
  }
}

/** The multivariant playlist over renditions that each list a segment (so each has a bit rate). */
function renderVariants(live: readonly [string, HlsPlaylist][], file?: string): { text: string; ended: boolean } {
  const variants: VariantInfo[] = live.map(([rendition, p]) => {
    const bw = p.bandwidth()!;
    return { rendition, bandwidth: bw.peak, averageBandwidth: bw.average, resolution: p.resolution() };
  });
  return { text: renderMultivariant(variants, file), ended: live.every(([, p]) => p.ended) };
}
