import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Env, type Segment } from '@livemesh/contracts';
import { DeliveryMetrics } from './delivery.metrics.js';
import { renderMultivariant, type VariantInfo } from './hls.multivariant.js';
import { HlsPlaylist, pictureSize, type PlaylistChange, type PlaylistEntry } from './hls.playlist.js';

interface StreamState {
  renditions: Map<string, HlsPlaylist>;
  lastSegmentAt: number;
  /** Set once end() was called; new renditions of an ending stream end at once. */
  endRequested?: { lastSeq?: number };
  /** When the last rendition appended EXT-X-ENDLIST. */
  endedAt?: number;
}

/** What the HTTP origin serves for `/hls/<streamId>/index.m3u8`. */
export type StreamIndex =
  | { kind: 'media'; text: string; ended: boolean }
  | { kind: 'multivariant'; text: string; ended: boolean };

const TICK_MS = 250;

/**
 * Every stream's playlists, in memory. Drives the pure HlsPlaylist objects with the wall clock,
 * turns their changes into logs and metrics, and forgets a stream DELIVERY_KEEP_SECONDS after it
 * ended or went silent.
 */
@Injectable()
export class HlsRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(HlsRegistry.name);
  private readonly streams = new Map<string, StreamState>();
  private timer?: NodeJS.Timeout;
  private readonly keepMs: number;

  constructor(
    private readonly env: Env,
    private readonly metrics: DeliveryMetrics,
  ) {
    this.keepMs = env.DELIVERY_KEEP_SECONDS * 1000;
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

  /** Takes a validated segment off the output subject. */
  accept(segment: Segment): void {
    const { meta } = segment;
    const now = Date.now();
    let stream = this.streams.get(meta.streamId);
    if (!stream) {
      stream = { renditions: new Map(), lastSegmentAt: now };
      this.streams.set(meta.streamId, stream);
      this.metrics.streams.set(this.streams.size);
      this.logger.log(`stream ${meta.streamId}: first segment (rendition ${meta.rendition}, seq ${meta.seq})`);
    }
    stream.lastSegmentAt = now;
    let playlist = stream.renditions.get(meta.rendition);
    if (!playlist) {
      playlist = new HlsPlaylist({ window: this.env.HLS_WINDOW, initialTargetDuration: this.env.SEGMENT_SECONDS });
      stream.renditions.set(meta.rendition, playlist);
      if (stream.endRequested) playlist.end(stream.endRequested.lastSeq);
    }
    const result = playlist.push({
      seq: meta.seq,
      duration: meta.duration,
      pts: meta.pts,
      ingestTime: meta.ingestTime,
      epoch: meta.epoch,
      data: segment.data,
      ...pictureSize(meta),
    });
    if (result.outcome !== 'buffered') {
      this.metrics.dropped.inc({ reason: result.outcome });
      this.logger.debug(`stream ${meta.streamId}/${meta.rendition}: seq ${meta.seq} dropped (${result.outcome})`);
    } else if (result.waiting) {
      this.metrics.reorderWaits.inc();
      this.logger.debug(`stream ${meta.streamId}/${meta.rendition}: seq ${meta.seq} waits for an earlier seq`);
    }
    this.applied(meta.streamId, meta.rendition, stream, result, now);
  }

  /** The stream ended: its playlists get EXT-X-ENDLIST once the stragglers are in (or their grace ran out). */
  end(streamId: string, lastSeq?: number): void {
    const stream = this.streams.get(streamId);
    if (!stream) {
      this.logger.debug(`stream ${streamId}: ended, but no segment of it was delivered here`);
      return;
    }
    if (stream.endRequested) return;
    stream.endRequested = { lastSeq };
    this.logger.log(`stream ${streamId}: ended${lastSeq === undefined ? '' : ` at seq ${lastSeq}`}; closing its playlists`);
    const now = Date.now();
    for (const [rendition, playlist] of stream.renditions) this.applied(streamId, rendition, stream, playlist.end(lastSeq), now);
  }

  /** Advances every playlist's clock and forgets streams kept long enough. */
  tick(now = Date.now()): void {
    for (const [streamId, stream] of this.streams) {
      for (const [rendition, playlist] of stream.renditions) this.applied(streamId, rendition, stream, playlist.tick(), now);
      const since = stream.endedAt ?? stream.lastSegmentAt;
      if (now - since >= this.keepMs && (stream.endedAt !== undefined || stream.endRequested === undefined)) {
        this.streams.delete(streamId);
        this.metrics.streams.set(this.streams.size);
        this.logger.log(`stream ${streamId}: dropped from memory (${stream.endedAt !== undefined ? 'ended' : 'silent'} for ${Math.round((now - since) / 1000)} s)`);
      }
    }
  }

  /** `/hls/<streamId>/index.m3u8`: the media playlist of a single rendition, else the multivariant playlist. */
  streamIndex(streamId: string): StreamIndex | undefined {
    const stream = this.streams.get(streamId);
    if (!stream) return undefined;
    const live = [...stream.renditions].filter(([, p]) => p.listed.length > 0);
    if (live.length === 0) return undefined;
    if (live.length === 1) {
      const [rendition, playlist] = live[0]!;
      return { kind: 'media', text: playlist.render(`${rendition}/`), ended: playlist.ended };
    }
    const variants: VariantInfo[] = live.map(([rendition, p]) => {
      const bw = p.bandwidth()!;
      return { rendition, bandwidth: bw.peak, averageBandwidth: bw.average, resolution: p.resolution() };
    });
    return { kind: 'multivariant', text: renderMultivariant(variants), ended: live.every(([, p]) => p.ended) };
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

  segment(streamId: string, rendition: string, seq: number): PlaylistEntry | undefined {
    return this.streams.get(streamId)?.renditions.get(rendition)?.segment(seq);
  }

  private applied(streamId: string, rendition: string, stream: StreamState, change: PlaylistChange, now: number): void {
    for (const seq of change.skipped) {
      this.logger.warn(`stream ${streamId}/${rendition}: seq ${seq} never arrived; skipped (discontinuity)`);
    }
    this.metrics.skipped.inc(change.skipped.length);
    for (const e of change.emitted) {
      this.metrics.delivered.inc();
      this.metrics.glassToGlass.observe(Math.max(0, (e.availableAt - e.ingestTime) / 1000));
      this.logger.verbose(`stream ${streamId}/${rendition}: seq ${e.seq} listed (${e.duration.toFixed(3)} s${e.discontinuity ? ', discontinuity' : ''})`);
    }
    if (change.ended) {
      this.logger.log(`stream ${streamId}/${rendition}: EXT-X-ENDLIST`);
      if ([...stream.renditions.values()].every((p) => p.ended)) stream.endedAt = now;
    }
  }
}
