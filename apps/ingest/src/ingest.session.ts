import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@nestjs/common';
import type { UrlSource } from '@livemesh/media';
import type { IngestMetrics } from './ingest.metrics.js';
import type { SegmentSink, SourceKind } from './segment.sink.js';
import { REENCODE_VIDEO, SegmenterRun } from './segmenter.run.js';

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

/**
 * What ingest keeps of a stream across its sessions (publisher reconnects, a pulled source's
 * restarts) until the stream is forgotten: its sink, which numbers and publishes its segments,
 * and how its source is cut.
 */
export interface IngestStream {
  readonly id: string;
  readonly sink: SegmentSink;
  /** The source's GOPs are too long to cut on: video is re-encoded from the next run on (sticky). */
  reencode: boolean;
}

export interface SessionSettings {
  ffmpegPath: string;
  segmentSeconds: number;
  /** The stream's folder: each run cuts into a fresh folder of its own under it. */
  dir: string;
  /** A source silent this long ends the run, which then restarts, ms. */
  rwTimeoutMs: number;
}

/** Back-off between runs of a session that end by themselves: doubled from the first up to the most. */
const BACKOFF_MS = { first: 1000, most: 30_000 };
/** How long ffmpeg gets to finish after its input ended before it is signalled, then SIGTERM to SIGKILL. */
const GRACE_MS = { end: 3000, kill: 5000 };

/**
 * One source connection of one stream: segmenter runs, restarted with back-off while the source
 * is wanted, each cutting into the stream's sink. When it ends, the sink reports what it published
 * ('publish-ended') once those segments are out: `flushed`.
 */
export class IngestSession {
  /** The session's last run has ended and every segment it cut is numbered and queued. */
  readonly done: Promise<void>;
  /** Every segment the session cut is published or dropped, and 'publish-ended' sent (or given up). */
  readonly flushed: Promise<void>;
  private resolveFlushed!: (flushed: Promise<void>) => void;
  private active = true;
  private run?: SegmenterRun;
  private wake?: () => void;

  constructor(
    private readonly stream: IngestStream,
    readonly source: SessionSource,
    private readonly settings: SessionSettings,
    private readonly metrics: Pick<IngestMetrics, 'reencodeSwitches' | 'segmenterRestarts'>,
    private readonly logger: Logger,
  ) {
    this.flushed = new Promise<void>((r) => (this.resolveFlushed = r));
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    const { stream, source } = this;
    const { id: streamId, sink } = stream;
    sink.beginSession(source.kind);
    let backoff = BACKOFF_MS.first;
    let total = 0;
    try {
      while (this.active) {
        let input = source.input;
        try {
          if (source.prepare) input = await source.prepare();
        } catch (e) {
          this.logger.warn(`stream ${streamId}: ${source.kind} source refused: ${(e as Error).message}; retrying in ${backoff} ms`);
          await this.pause(backoff);
          backoff = Math.min(backoff * 2, BACKOFF_MS.most);
          continue;
        }
        if (!this.active) break;
        const dir = await this.runDir();
        if (!this.active) {
          await rm(dir, { recursive: true, force: true });
          break;
        }
        const run = new SegmenterRun(
          {
            streamId,
            ffmpegPath: this.settings.ffmpegPath,
            input,
            segmentSeconds: this.settings.segmentSeconds,
            dir,
            rwTimeoutMs: this.settings.rwTimeoutMs,
            reencode: stream.reencode ? REENCODE_VIDEO : undefined,
            redact: source.redact,
            sink,
          },
          this.logger,
        );
        this.run = run;
        const exit = await run.start();
        // Every listed file is read into the queue by now: the folder can go, whether or not the bus is there.
        await sink.admitted();
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        const produced = sink.cutInSession - total;
        total = sink.cutInSession;
        if (exit.gopTooLong) {
          stream.reencode = true;
          this.metrics.reencodeSwitches.inc({ source: source.kind });
        }
        if (!this.active) break;
        if (exit.gopTooLong) {
          // Straight on: the source is still there, only the way it is cut changed. An RTMP source
          // replays its GOP cache from the last key frame, which is where the last listed segment
          // ended, so the new run continues the timeline; a pulled source continues from wherever it is.
          backoff = BACKOFF_MS.first;
          continue;
        }
        if (produced > 0) backoff = BACKOFF_MS.first;
        const how = exit.signal ?? `code ${exit.code}`;
        this.logger.warn(
          `stream ${streamId}: ${source.kind} segmenter ended (${how}) after ${produced} segment(s); restarting in ${backoff} ms` +
            (run.stderrTail() ? `: ${run.stderrTail()}` : ''),
        );
        this.metrics.segmenterRestarts.inc({ source: source.kind });
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MS.most);
      }
    } catch (e) {
      this.logger.error(`stream ${streamId}: ${source.kind} session failed: ${(e as Error).message}`);
    } finally {
      await sink.admitted();
      // Called before `done` resolves, so before a next session of the stream can begin on the sink.
      this.resolveFlushed(sink.endSession());
    }
  }

  /** A fresh folder for one run, under the stream's. */
  private async runDir(): Promise<string> {
    await mkdir(this.settings.dir, { recursive: true });
    return mkdtemp(join(this.settings.dir, 'run-'));
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

  /** Stops restarting, lets the current run flush, and resolves once all its segments are cut and queued. */
  async stop(): Promise<void> {
    if (this.active) {
      this.active = false;
      this.wake?.();
      const run = this.run;
      if (run?.running) {
        run.finishAsItIs();
        this.source.endInput?.();
        const ended = await Promise.race([
          run.wait().then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), this.source.endInput ? GRACE_MS.end : 0).unref()),
        ]);
        if (!ended) await run.terminate(GRACE_MS.kill);
      }
    }
    await this.done;
  }
}
