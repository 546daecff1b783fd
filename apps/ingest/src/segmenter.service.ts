import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Bus, publishSegment, publishStreamEvent } from '@livemesh/bus';
import { assertToken, ENV, type IngestSettings } from '@livemesh/contracts';
import type { UrlSource } from '@livemesh/media';
import { BusStatus } from './bus.status.js';
import { FirstHops } from './first.hops.js';
import { IngestMetrics } from './ingest.metrics.js';
import { SegmentSink, type SegmentOutlet, type SourceKind } from './segment.sink.js';
import { REENCODE_VIDEO, SegmenterRun } from './segmenter.run.js';
import { StreamDirectory } from './stream.directory.js';

export interface SessionSource {
  kind: SourceKind;
  input: UrlSource;
  redact: (text: string) => string;
  /**
   * Asks the source to end so ffmpeg sees end-of-stream and flushes by itself (RTMP: close its play
   * session). Without it, or when ffmpeg is still running after a while, it gets SIGTERM.
   */
  endInput?: () => void;
  /**
   * What each run opens, worked out just before it starts (a pulled URL's host resolved and
   * checked again, the URL pinned to that address); `input` when absent. A refusal fails the run.
   */
  prepare?: () => Promise<UrlSource>;
}

const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** How long ffmpeg gets to finish after its input ended before it is signalled. */
const END_GRACE_MS = 3000;
/** SIGTERM to SIGKILL. */
const KILL_GRACE_MS = 5000;
/** A source silent this long ends the run, which then restarts. */
const RW_TIMEOUT_MS = 15_000;
/**
 * A segment still open after this many segment lengths of media means the source's GOPs are too
 * long to cut on: the stream switches to re-encoding with forced key frames.
 */
export const LONG_SEGMENT_FACTOR = 2.5;

/**
 * Runs the segmenter of each stream that has a source (an RTMP publisher or a pulled URL):
 * restarts ffmpeg with back-off while the source is wanted, and on stop lets it flush the last
 * segment. One session per stream at a time; the stream's sink outlives sessions.
 */
@Injectable()
export class SegmenterService {
  private readonly logger = new Logger(SegmenterService.name);
  private readonly sessions = new Map<string, IngestSession>();
  private readonly sinks = new Map<string, SegmentSink>();
  /** Streams whose source needs re-encoding (GOPs too long); sticky until the stream is forgotten. */
  private readonly reencode = new Set<string>();
  /** A source that runs whenever nothing else feeds the stream (its SRT listener). */
  private readonly standby = new Map<string, SessionSource>();
  private shuttingDown = false;
  private readonly root: string;
  /** Ended sessions whose last segments are still on their way out (then 'publish-ended'). */
  private readonly ending = new Set<Promise<void>>();
  private readonly outlet: SegmentOutlet;

  constructor(
    @Inject(ENV) private readonly env: IngestSettings,
    @Inject(Bus) private readonly bus: Bus,
    @Inject(FirstHops) private readonly chains: FirstHops,
    @Inject(StreamDirectory) private readonly directory: StreamDirectory,
    @Inject(IngestMetrics) private readonly metrics: IngestMetrics,
    @Inject(BusStatus) status: BusStatus,
  ) {
    this.root = resolve(env.LIVEMESH_DATA_DIR, 'ingest');
    this.outlet = {
      publish: (subject, segment) => publishSegment(bus, subject, segment, { inlineLimit: env.INLINE_LIMIT_BYTES }),
      event: (event) => publishStreamEvent(bus, event),
      connected: () => status.isConnected,
    };
  }

  /** Segment files left by a previous process cannot be numbered reliably: start clean. */
  async prepare(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true });
  }

  has(streamId: string): boolean {
    return this.sessions.has(streamId);
  }

  /** Starts the stream's segmenter on `source`, after the previous session (if any) has flushed. */
  async begin(streamId: string, source: SessionSource): Promise<void> {
    assertToken('stream id', streamId);
    const previous = this.sessions.get(streamId);
    if (previous) await previous.stop();
    const session = new IngestSession(streamId, source, this.sink(streamId), this, this.logger);
    this.sessions.set(streamId, session);
    void session.done.finally(() => {
      if (this.sessions.get(streamId) === session) this.sessions.delete(streamId);
    });
  }

  /**
   * Ends the stream's session: ffmpeg flushes and every segment is cut and queued; they go out
   * (then 'publish-ended') as the bus takes them, without holding up the next session. The
   * stream's standby source (its SRT listener), if any, takes over again.
   */
  async end(streamId: string): Promise<void> {
    const current = this.sessions.get(streamId);
    await current?.stop();
    const standby = this.standby.get(streamId);
    if (standby && current?.source !== standby && !this.shuttingDown && !this.sessions.has(streamId)) await this.begin(streamId, standby);
  }

  /** Sets (or clears) the source that feeds the stream whenever no other does; starts it when idle. */
  async setStandby(streamId: string, source: SessionSource | undefined): Promise<void> {
    const previous = this.standby.get(streamId);
    if (source) this.standby.set(streamId, source);
    else this.standby.delete(streamId);
    const current = this.sessions.get(streamId);
    if (previous && current?.source === previous) await current.stop();
    if (source && !this.sessions.has(streamId) && !this.shuttingDown) await this.begin(streamId, source);
  }

  /** Forgets the stream (it ended): its numbering restarts should the id come back. */
  async forget(streamId: string): Promise<void> {
    this.standby.delete(streamId);
    await this.end(streamId);
    const sink = this.sinks.get(streamId);
    // What is left goes out if the bus takes it now; a cursor saved after the delete would bring the stream back.
    sink?.close();
    await sink?.idle();
    this.sinks.delete(streamId);
    this.reencode.delete(streamId);
    await this.directory.deleteCursor(streamId).catch((e: Error) => this.logger.warn(`stream ${streamId}: cursor not deleted: ${e.message}`));
  }

  /** No standby source starts any more (the app is going down); queued segments that cannot go out now are given up. */
  beginShutdown(): void {
    this.shuttingDown = true;
    for (const sink of this.sinks.values()) sink.close();
  }

  /** Every session ends, and every segment they cut is published (or given up) and reported. */
  async endAll(): Promise<void> {
    this.beginShutdown();
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id)));
    while (this.ending.size > 0) await Promise.all([...this.ending]);
  }

  /** @internal the stream's GOPs are too long to cut on: re-encode from the next run on. */
  markReencode(streamId: string): void {
    this.reencode.add(streamId);
  }

  private sink(streamId: string): SegmentSink {
    let sink = this.sinks.get(streamId);
    if (!sink) {
      sink = new SegmentSink(streamId, {
        chains: this.chains,
        directory: this.directory,
        outlet: this.outlet,
        metrics: this.metrics,
        logger: this.logger,
        limits: { maxSegments: this.env.INGEST_QUEUE_SEGMENTS, maxBytes: this.env.INGEST_QUEUE_BYTES },
      });
      if (this.shuttingDown) sink.close();
      this.sinks.set(streamId, sink);
    }
    return sink;
  }

  /** @internal used by IngestSession */
  async runDir(streamId: string): Promise<string> {
    const dir = join(this.root, streamId);
    await mkdir(dir, { recursive: true });
    return mkdtemp(join(dir, 'run-'));
  }

  /** @internal */
  newRun(streamId: string, source: SessionSource, input: UrlSource, dir: string, sink: SegmentSink, onLongSegment: (run: SegmenterRun) => void): SegmenterRun {
    const limit = LONG_SEGMENT_FACTOR * this.env.SEGMENT_SECONDS;
    return new SegmenterRun(
      {
        streamId,
        ffmpegPath: this.env.FFMPEG_PATH,
        input,
        segmentSeconds: this.env.SEGMENT_SECONDS,
        dir,
        rwTimeoutMs: RW_TIMEOUT_MS,
        reencode: this.reencode.has(streamId) ? REENCODE_VIDEO : undefined,
        redact: source.redact,
        plan: (sourceStart) => sink.planRun(sourceStart),
        onSegment: (path, entry, run) => {
          if (!run.reencoding && entry.end - entry.start > limit) onLongSegment(run);
          sink.push(path, entry, run);
        },
        onProgress: (media, listedEnd, run) => {
          if (!run.reencoding && media - listedEnd > limit) onLongSegment(run);
        },
      },
      this.logger,
    );
  }

  /** @internal */
  reencoding(kind: SourceKind): void {
    this.metrics.reencodeSwitches.inc({ source: kind });
  }

  /** @internal */
  restarted(kind: SourceKind): void {
    this.metrics.segmenterRestarts.inc({ source: kind });
  }

  /**
   * @internal A session ended: once every segment it cut is published or dropped (which waits for
   * the bus, not for the stream's next session), 'publish-ended' says how many went out.
   */
  sessionEnded(streamId: string, sink: SegmentSink): void {
    const done = sink.finishSession().then(async ({ source, published, cut }) => {
      this.logger.log(`stream ${streamId}: ${source} source ended; ${published} of ${cut} segment(s) published`);
      await publishStreamEvent(this.bus, {
        streamId,
        kind: 'publish-ended',
        message: `${source === 'rtmp' ? 'RTMP publisher left' : 'pulled source ended'} after ${published} segment(s)`,
        data: { source, segments: published },
      });
    });
    const tracked = done
      .catch((e: Error) => this.logger.warn(`stream ${streamId}: 'publish-ended' event not sent: ${e.message}`))
      .finally(() => this.ending.delete(tracked));
    this.ending.add(tracked);
  }
}

/** One source connection of one stream: segmenter runs, restarted while the source is wanted. */
class IngestSession {
  readonly done: Promise<void>;
  private active = true;
  private run?: SegmenterRun;
  private wake?: () => void;

  private switching = false;

  constructor(
    private readonly streamId: string,
    readonly source: SessionSource,
    private readonly sink: SegmentSink,
    private readonly owner: SegmenterService,
    private readonly logger: Logger,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    const { streamId, source, sink } = this;
    sink.beginSession(source.kind);
    let backoff = FIRST_BACKOFF_MS;
    let total = 0;
    try {
      while (this.active) {
        let input = source.input;
        try {
          if (source.prepare) input = await source.prepare();
        } catch (e) {
          this.logger.warn(`stream ${streamId}: ${source.kind} source refused: ${(e as Error).message}; retrying in ${backoff} ms`);
          await this.pause(backoff);
          backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
          continue;
        }
        if (!this.active) break;
        const dir = await this.owner.runDir(streamId);
        if (!this.active) {
          await rm(dir, { recursive: true, force: true });
          break;
        }
        const run = this.owner.newRun(streamId, source, input, dir, sink, (r) => void this.switchToReencode(r));
        this.run = run;
        const exit = await run.start();
        // Every listed file is read into the queue by now: the folder can go, whether or not the bus is there.
        await sink.admitted();
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        const produced = sink.cutInSession - total;
        total = sink.cutInSession;
        if (!this.active) break;
        if (this.switching) {
          // Straight on: the source is still there, only the way it is cut changed.
          this.switching = false;
          backoff = FIRST_BACKOFF_MS;
          continue;
        }
        if (produced > 0) backoff = FIRST_BACKOFF_MS;
        const how = exit.signal ?? `code ${exit.code}`;
        this.logger.warn(
          `stream ${streamId}: ${source.kind} segmenter ended (${how}) after ${produced} segment(s); restarting in ${backoff} ms` +
            (run.stderrTail() ? `: ${run.stderrTail()}` : ''),
        );
        this.owner.restarted(source.kind);
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    } catch (e) {
      this.logger.error(`stream ${streamId}: ${source.kind} session failed: ${(e as Error).message}`);
    } finally {
      await sink.admitted();
      this.owner.sessionEnded(streamId, sink);
    }
  }

  /** Waits `ms`, or until stop() wakes the session. */
  private async pause(ms: number): Promise<void> {
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
    this.wake = undefined;
  }

  /**
   * The source's GOPs are too long to cut on. The open segment is abandoned (killed, not flushed:
   * flushing it would publish the over-long segment) and the next run re-encodes. An RTMP source
   * replays its GOP cache from the last key frame, which is where the last listed segment ended, so
   * the new run continues the timeline; a pulled source continues from wherever it is.
   */
  private async switchToReencode(run: SegmenterRun): Promise<void> {
    if (this.switching || !this.active || run !== this.run || !run.running) return;
    this.switching = true;
    this.logger.warn(
      `stream ${this.streamId}: a segment grew past ${LONG_SEGMENT_FACTOR}x the segment length (source GOP too long); re-encoding with a key frame every segment from now on`,
    );
    this.owner.markReencode(this.streamId);
    this.owner.reencoding(this.source.kind);
    await run.kill();
  }

  /** Stops restarting, lets the current run flush, and resolves once all its segments are cut and queued. */
  async stop(): Promise<void> {
    if (this.active) {
      this.active = false;
      this.wake?.();
      const run = this.run;
      if (run?.running) {
        this.source.endInput?.();
        const ended = await Promise.race([
          run.wait().then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), this.source.endInput ? END_GRACE_MS : 0).unref()),
        ]);
        if (!ended) await run.terminate(KILL_GRACE_MS);
      }
    }
    await this.done;
  }
}
