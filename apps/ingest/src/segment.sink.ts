import { readFile, rm } from 'node:fs/promises';
import type { Logger } from '@nestjs/common';
import { publishSegment, publishStreamEvent, type Bus } from '@livemesh/bus';
import { DEFAULT_RENDITION, NotFoundError, type SegmentMeta } from '@livemesh/contracts';
import type { SegmentListEntry } from '@livemesh/media';
import type { ChainCache } from './chain.cache.js';
import { advanceCursor, placeSegment, planRun, type IngestCursor, type PlacedSegment, type RunTimeline } from './ingest.cursor.js';
import type { IngestMetrics } from './ingest.metrics.js';
import type { StreamDirectory } from './stream.directory.js';

export type SourceKind = 'rtmp' | 'srt' | 'pull';

export interface SegmentSinkDeps {
  bus: Bus;
  chains: ChainCache;
  directory: StreamDirectory;
  metrics: IngestMetrics;
  logger: Logger;
  inlineLimit: number;
}

/** Publish attempts of one segment before it is given up (the next one must not wait forever). */
const MAX_ATTEMPTS = 5;
/** A stale cursor (lost write before a crash) can collide with seqs still in the dedup window. */
const MAX_SEQ_SKIPS = 1000;

/**
 * One stream's way onto hop 0: segments go out strictly one at a time, in the order the segmenter
 * finished them, each with the next seq. Lives as long as ingest handles the stream, across
 * publisher reconnects and segmenter restarts, so the numbering never starts over.
 */
export class SegmentSink {
  private tail: Promise<void> = Promise.resolve();
  private cursor?: IngestCursor;
  private source: SourceKind = 'rtmp';
  private sessionPublished = 0;
  /** The run the last placed segment came from: the next run's first segment decides its epoch. */
  private placedRun?: RunTimeline;
  private lastEpoch?: number;

  constructor(
    readonly streamId: string,
    private readonly deps: SegmentSinkDeps,
  ) {}

  /** A new publisher (or pull connection) begins: its first segment announces 'publishing'. */
  beginSession(source: SourceKind): void {
    this.tail = this.tail.then(() => {
      this.source = source;
      this.sessionPublished = 0;
    });
  }

  /** Segments published since beginSession (read once idle() resolved). */
  get publishedInSession(): number {
    return this.sessionPublished;
  }

  /**
   * Maps a new segmenter run whose source starts at `sourceStart` (its own clock) onto the output
   * timeline, once every queued segment is out (the cursor is read from KV after an ingest restart).
   */
  async planRun(sourceStart: number | undefined): Promise<RunTimeline> {
    await this.tail;
    this.cursor ??= await this.deps.directory.loadCursor(this.streamId);
    return planRun(this.cursor, sourceStart);
  }

  /** Queues a finished segment file of `run`; it is deleted once published or given up. */
  push(path: string, entry: SegmentListEntry, run: RunTimeline): void {
    this.tail = this.tail.then(() => this.publishOne(path, entry, run));
  }

  /** Resolves when every queued segment has been handled. */
  idle(): Promise<void> {
    return this.tail;
  }

  private async publishOne(path: string, entry: SegmentListEntry, run: RunTimeline): Promise<void> {
    const { logger, metrics } = this.deps;
    try {
      const data = await readFile(path);
      if (data.byteLength === 0) {
        logger.warn(`stream ${this.streamId}: segment ${entry.file} is empty; skipped`);
        return;
      }
      this.cursor ??= await this.deps.directory.loadCursor(this.streamId);
      const hop = await this.deps.chains.firstHop(this.streamId);
      const ingestTime = Date.now();
      let placed = placeSegment(this.cursor, run, entry.start, entry.end, this.placedRun !== run);
      let skips = 0;
      for (let attempt = 1; ; attempt++) {
        const meta: SegmentMeta = {
          streamId: this.streamId,
          seq: placed.seq,
          hop: 0,
          rendition: DEFAULT_RENDITION,
          pts: placed.pts,
          duration: placed.duration,
          ingestTime,
          epoch: placed.epoch,
          chainVersion: hop.chainVersion,
        };
        try {
          const ack = await publishSegment(this.deps.bus, hop.subject, { meta, data }, { inlineLimit: this.deps.inlineLimit });
          if (ack.duplicate && attempt === 1 && skips < MAX_SEQ_SKIPS) {
            // Not our own retry: this seq went out before the last cursor write was lost.
            skips++;
            this.cursor = { ...this.cursor, nextSeq: placed.seq + 1 };
            placed = { ...placed, seq: placed.seq + 1 };
            attempt = 0;
            continue;
          }
          break;
        } catch (e) {
          if (attempt >= MAX_ATTEMPTS) throw e;
          logger.warn(`stream ${this.streamId} seq ${placed.seq}: publish to ${hop.subject} failed (attempt ${attempt}/${MAX_ATTEMPTS}): ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
        }
      }
      if (skips > 0) logger.warn(`stream ${this.streamId}: skipped ${skips} seq(s) already in the dedup window; now at seq ${placed.seq}`);
      this.placedRun = run;
      await this.published(placed, data.byteLength, hop.subject);
    } catch (e) {
      const reason = e instanceof NotFoundError ? 'no-chain' : 'publish-failed';
      metrics.segmentsDropped.inc({ reason });
      logger.error(`stream ${this.streamId}: segment ${entry.file} (${entry.start}-${entry.end}) given up: ${(e as Error).message}`);
    } finally {
      await rm(path, { force: true }).catch(() => undefined);
    }
  }

  private async published(placed: PlacedSegment, bytes: number, subject: string): Promise<void> {
    const { logger, metrics } = this.deps;
    this.cursor = advanceCursor(this.cursor as IngestCursor, placed);
    metrics.segmentsPublished.inc({ source: this.source });
    metrics.bytesPublished.inc({ source: this.source }, bytes);
    logger.debug(`stream ${this.streamId} seq ${placed.seq}: ${bytes} B pts ${placed.pts.toFixed(3)} dur ${placed.duration.toFixed(3)} epoch ${placed.epoch} -> ${subject}`);
    if (placed.epoch !== (this.lastEpoch ?? placed.epoch)) {
      logger.log(`stream ${this.streamId} seq ${placed.seq}: the source timeline restarted; epoch ${placed.epoch} (delivery marks a discontinuity)`);
    }
    this.lastEpoch = placed.epoch;
    try {
      await this.deps.directory.saveCursor(this.cursor);
    } catch (e) {
      // The next write catches up; a lost one is repaired by the duplicate check above.
      logger.warn(`stream ${this.streamId} seq ${placed.seq}: cursor not saved: ${(e as Error).message}`);
    }
    if (this.sessionPublished++ === 0) {
      await publishStreamEvent(this.deps.bus, {
        streamId: this.streamId,
        kind: 'publishing',
        seq: placed.seq,
        message: `first segment from the ${this.source === 'rtmp' ? 'RTMP publisher' : 'pulled source'} is on hop 0`,
        data: { source: this.source, epoch: placed.epoch },
      }).catch((e: Error) => logger.warn(`stream ${this.streamId}: 'publishing' event not sent: ${e.message}`));
    }
  }
}
