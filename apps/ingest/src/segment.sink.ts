import { readFile, rm } from 'node:fs/promises';
import type { Logger } from '@nestjs/common';
import { DEFAULT_RENDITION, NotFoundError, type Segment, type SegmentMeta, type NewStreamEvent, type SegmentsDroppedData } from '@livemesh/contracts';
import type { SegmentListEntry } from '@livemesh/media';
import type { FirstHops } from './first.hops.js';
import { advanceCursor, placeSegment, segmentKbps, planRun, type IngestCursor, type PlacedSegment, type RunTimeline } from './ingest.cursor.js';
import type { DropCounterReason, IngestMetrics } from './ingest.metrics.js';
import { BoundedQueue, DropRuns, type QueueLimits } from './segment.queue.js';
import type { StreamDirectory } from './stream.directory.js';

export type SourceKind = 'rtmp' | 'srt' | 'pull';

/** What the sink needs of the bus; SegmenterService backs it with the real connection. */
export interface SegmentOutlet {
  /** Publishes a segment and waits for JetStream to store it. */
  publish(subject: string, segment: Segment): Promise<{ duplicate: boolean }>;
  /** Publishes a status event of the stream. */
  event(event: NewStreamEvent): Promise<void>;
  /** Whether the NATS connection is up right now. */
  connected(): boolean;
}

export interface SegmentSinkDeps {
  outlet: SegmentOutlet;
  chains: Pick<FirstHops, 'firstHop'>;
  directory: Pick<StreamDirectory, 'loadCursor' | 'saveCursor'>;
  metrics: IngestMetrics;
  logger: Logger;
  limits: QueueLimits;
}

/** Attempts of a segment the bus refuses for a reason other than being unreachable (the next one must not wait forever). */
const MAX_ATTEMPTS = 5;
/** A stale cursor (lost write before a crash) can collide with seqs still in the dedup window. */
const MAX_SEQ_SKIPS = 1000;
/** How often the connection state is looked at while waiting for it to come back, ms. */
const LINK_POLL_MS = 100;
/** Longest pause between two attempts of the same segment, ms. */
const MAX_RETRY_PAUSE_MS = 2000;

/**
 * The bus refused the publish because the subject (one stream's hop on LM_SEG) is at its
 * `max_msgs_per_subject` with discard-new-per-subject. Today JetStream's own error says so; once
 * libs/bus maps it, a BusError with reason `subject-full` does: both are recognised here, and only here.
 */
export function isSubjectFull(e: unknown): boolean {
  for (let err = e, depth = 0; err instanceof Error && depth < 5; err = err.cause, depth++) {
    if ((err as { reason?: unknown }).reason === 'subject-full') return true;
    if (/maximum messages per subject exceeded/i.test(err.message)) return true;
  }
  return false;
}

/**
 * A publish that may well succeed later: the server did not answer, the connection went away, or
 * JetStream is not answering yet (a restarted server recovering its store: "no responders").
 * These wait at the head of the queue, which the bound keeps from growing, instead of being given up.
 */
export function isTransient(e: unknown): boolean {
  const err = e as { name?: string; message?: string; reason?: unknown };
  return err.reason === 'timeout' || err.reason === 'closed' || /timeout|disconnect|connection|no responders|jetstream is not enabled/i.test(`${err.name ?? ''} ${err.message ?? ''}`);
}

class Disconnected extends Error {}

interface Session {
  source: SourceKind;
  published: number;
  cut: number;
}

/** A segment cut and numbered, waiting for the bus. Its file is already gone: the bytes are here. */
interface Queued {
  placed: PlacedSegment;
  /** The cursor once this segment is out (saved to KV after its publish). */
  cursorAfter: IngestCursor;
  data: Uint8Array;
  bytes: number;
  ingestTime: number;
  file: string;
  session: Session;
  /** Admission order, to tell when everything cut up to a point is done with. */
  ordinal: number;
  /** Publishes tried (the first one tells a stale cursor from our own retry). */
  attempts: number;
  /** Attempts the bus answered with an error other than being unreachable. */
  refusals: number;
}

/**
 * One stream's way onto hop 0. Segments are numbered in the order the segmenter finished them, as
 * they are cut (admission), and wait in a queue bounded by INGEST_QUEUE_SEGMENTS and
 * INGEST_QUEUE_BYTES until the bus stores them, strictly one at a time. While NATS is away the
 * queue keeps the newest segments; the oldest are dropped and their seqs stay a hole, reported as a
 * `segments-dropped` event once the bus is back (delivery marks the hole). A segment the bus refuses
 * because the stream's LM_SEG share is full is dropped the same way and the next one goes on.
 * Lives as long as ingest handles the stream, across publisher reconnects and segmenter restarts,
 * so the numbering never starts over.
 */
export class SegmentSink {
  private admitting: Promise<void> = Promise.resolve();
  private cursor?: IngestCursor;
  private session: Session = { source: 'rtmp', published: 0, cut: 0 };
  /** The run the last placed segment came from: the next run's first segment decides its epoch. */
  private placedRun?: RunTimeline;
  private lastEpoch?: number;
  private readonly queue: BoundedQueue<Queued>;
  private readonly drops = new DropRuns();
  private draining?: Promise<void>;
  /** Set on shutdown: a segment that cannot go out now is given up instead of waited for. */
  private closing = false;
  /** Ordinal of the last admitted segment. */
  private ordinal = 0;
  /** Called whenever segments leave the queue. */
  private waiters: (() => void)[] = [];
  /** Seqs skipped because they were already in the dedup window (stale cursor). */
  private skips = 0;

  constructor(
    readonly streamId: string,
    private readonly deps: SegmentSinkDeps,
  ) {
    this.queue = new BoundedQueue(deps.limits);
  }

  /** A new publisher (or pull connection) begins: its first segment announces 'publishing'. */
  beginSession(source: SourceKind): void {
    this.admitting = this.admitting.then(() => {
      this.session = { source, published: 0, cut: 0 };
    });
  }

  /**
   * The current session is over (its source ended): resolves with what it published once every
   * segment it cut has been published or dropped, and its drops reported. Does not wait for
   * segments of a later session.
   */
  async finishSession(): Promise<{ source: SourceKind; published: number; cut: number }> {
    await this.admitting;
    const { session, ordinal } = this;
    while (this.queue.length > 0 && (this.queue.entries()[0] as Queued).ordinal <= ordinal) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    await this.report(true);
    return { ...session };
  }

  /**
   * The current session is over: once every segment it cut is published or dropped (which waits
   * for the bus, not for the stream's next session), 'publish-ended' says how many went out. Call
   * it before the next beginSession. Never rejects.
   */
  async endSession(): Promise<void> {
    const { logger } = this.deps;
    try {
      const { source, published, cut } = await this.finishSession();
      logger.log(`stream ${this.streamId}: ${source} source ended; ${published} of ${cut} segment(s) published`);
      await this.deps.outlet.event({
        streamId: this.streamId,
        kind: 'publish-ended',
        message: `${source === 'rtmp' ? 'RTMP publisher left' : 'pulled source ended'} after ${published} segment(s)`,
        data: { source, segments: published },
      });
    } catch (e) {
      logger.warn(`stream ${this.streamId}: 'publish-ended' event not sent: ${(e as Error).message}`);
    }
  }

  /** Segments cut since beginSession (read once admitted() resolved). */
  get cutInSession(): number {
    return this.session.cut;
  }

  get queuedSegments(): number {
    return this.queue.length;
  }

  /**
   * Maps a new segmenter run whose source starts at `sourceStart` (its own clock) onto the output
   * timeline, once every segment cut so far is numbered (not necessarily published: numbering does
   * not wait for the bus). The cursor is read from KV the first time.
   */
  async planRun(sourceStart: number | undefined): Promise<RunTimeline> {
    await this.admitting;
    this.cursor ??= await this.deps.directory.loadCursor(this.streamId);
    return planRun(this.cursor, sourceStart);
  }

  /** Takes a finished segment file of `run`: read, deleted, numbered and queued. */
  push(path: string, entry: SegmentListEntry, run: RunTimeline): void {
    this.admitting = this.admitting.then(() => this.admit(path, entry, run));
  }

  /** Resolves when every segment pushed so far is numbered and queued (its file is gone). */
  admitted(): Promise<void> {
    return this.admitting;
  }

  /** Resolves when every segment pushed so far has been published or dropped, and drops reported where the bus allowed. */
  async idle(): Promise<void> {
    await this.admitting;
    while (this.draining) await this.draining;
  }

  /** The app is going down: what cannot be published right away is given up. */
  close(): void {
    this.closing = true;
  }

  private async admit(path: string, entry: SegmentListEntry, run: RunTimeline): Promise<void> {
    const { logger, metrics } = this.deps;
    let data: Uint8Array;
    try {
      data = await readFile(path);
    } catch (e) {
      logger.warn(`stream ${this.streamId}: segment ${entry.file} unreadable; skipped: ${(e as Error).message}`);
      return;
    } finally {
      await rm(path, { force: true }).catch(() => undefined);
    }
    if (data.byteLength === 0) {
      logger.warn(`stream ${this.streamId}: segment ${entry.file} is empty; skipped`);
      return;
    }
    try {
      this.cursor ??= await this.deps.directory.loadCursor(this.streamId);
    } catch (e) {
      metrics.segmentsDropped.inc({ reason: 'publish-failed' });
      logger.error(`stream ${this.streamId}: segment ${entry.file} given up: its cursor cannot be read: ${(e as Error).message}`);
      return;
    }
    const placed = placeSegment(this.cursor, run, entry.start, entry.end, this.placedRun !== run);
    this.cursor = advanceCursor(this.cursor, placed);
    this.placedRun = run;
    this.session.cut++;
    const item: Queued = { placed, cursorAfter: this.cursor, data, bytes: data.byteLength, ingestTime: Date.now(), file: entry.file, session: this.session, ordinal: ++this.ordinal, attempts: 0, refusals: 0 };
    const before = { n: this.queue.length, bytes: this.queue.bytes };
    const evicted = this.queue.push(item);
    for (const gone of evicted) this.dropped(gone, 'ingest-queue-full');
    if (evicted.length > 0) {
      logger.warn(
        `stream ${this.streamId}: queue to the bus full (${this.queue.length} segment(s), ${this.queue.bytes} B); dropped seq ${evicted.map((g) => g.placed.seq).join(',')}`,
      );
    }
    metrics.queueChanged(this.queue.length - before.n, this.queue.bytes - before.bytes, this.queue.length, this.queue.bytes);
    if (evicted.length > 0) this.notify();
    this.drain();
  }

  private dropped(item: Queued, reason: DropCounterReason): void {
    this.deps.metrics.segmentsDropped.inc({ reason });
    if (reason === 'ingest-queue-full' || reason === 'queue-full') this.drops.add(item.placed.seq, reason);
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = this.run().finally(() => {
      this.draining = undefined;
      // A segment admitted while the loop was reporting on its way out would otherwise wait for the next one.
      if (this.queue.length > 0) this.drain();
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      if (!this.deps.outlet.connected()) {
        if (this.closing) {
          if (this.queue.length > 0) this.abandon('NATS is unreachable while shutting down');
          break;
        }
        await this.untilConnected();
        continue; // the head may have been evicted meanwhile
      }
      const item = this.queue.pinHead();
      if (!item) break;
      const outcome = await this.attempt(item);
      if (outcome === 'again') continue;
      if (outcome === 'done') {
        const before = { n: this.queue.length, bytes: this.queue.bytes };
        this.queue.shift();
        this.deps.metrics.queueChanged(this.queue.length - before.n, this.queue.bytes - before.bytes, this.queue.length, this.queue.bytes);
        this.notify();
        await this.report();
      } else {
        this.queue.unpin();
        await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** Math.min(item.attempts, 4), MAX_RETRY_PAUSE_MS)));
      }
    }
    await this.report(this.closing);
  }

  /** One publish of the head: done with (published or given up), to retry after a pause, or to try again at once (renumbered). */
  private async attempt(item: Queued): Promise<'done' | 'retry' | 'again'> {
    const { logger } = this.deps;
    item.attempts++;
    let subject = '';
    try {
      const hop = await this.deps.chains.firstHop(this.streamId);
      subject = hop.subject;
      const meta: SegmentMeta = {
        streamId: this.streamId,
        seq: item.placed.seq,
        hop: 0,
        rendition: DEFAULT_RENDITION,
        pts: item.placed.pts,
        duration: item.placed.duration,
        ingestTime: item.ingestTime,
        epoch: item.placed.epoch,
        chainVersion: hop.chainVersion,
      };
      const ack = await this.whileConnected(this.deps.outlet.publish(subject, { meta, data: item.data }));
      if (ack.duplicate && item.attempts === 1) {
        // Not our own retry: this seq went out before the last cursor write was lost. Everything
        // numbered after it moves up one; the queue is bounded, so this stays cheap.
        if (this.renumber(item)) return 'again';
      }
      await this.published(item, subject);
      return 'done';
    } catch (e) {
      const message = (e as Error).message;
      if (e instanceof NotFoundError) {
        this.dropped(item, 'no-chain');
        logger.error(`stream ${this.streamId}: segment ${item.file} seq ${item.placed.seq} given up: ${message}`);
        return 'done';
      }
      if (isSubjectFull(e)) {
        this.dropped(item, 'queue-full');
        logger.warn(`stream ${this.streamId} seq ${item.placed.seq}: ${subject} is at its per-stream limit; segment dropped, the next one goes on`);
        return 'done';
      }
      const transient = e instanceof Disconnected || !this.deps.outlet.connected() || isTransient(e);
      if (!transient) item.refusals++;
      if (this.closing && transient) {
        this.abandon(`${message} while shutting down`);
        return 'retry';
      }
      if (this.closing || item.refusals >= MAX_ATTEMPTS) {
        this.dropped(item, this.closing ? 'shutdown' : 'publish-failed');
        logger.error(`stream ${this.streamId}: segment ${item.file} seq ${item.placed.seq} given up after ${item.attempts} attempt(s): ${message}`);
        return 'done';
      }
      logger.warn(`stream ${this.streamId} seq ${item.placed.seq}: publish to ${subject || 'hop 0'} failed (attempt ${item.attempts}${transient ? ', bus unreachable' : `, refusal ${item.refusals}/${MAX_ATTEMPTS}`}): ${message}`);
      return 'retry';
    }
  }

  /** Shutdown with the bus unreachable: nothing waiting will go out, so nothing waits. */
  private abandon(why: string): void {
    const before = { n: this.queue.length, bytes: this.queue.bytes };
    let n = 0;
    for (let q = this.queue.shift(); q; q = this.queue.shift(), n++) this.dropped(q, 'shutdown');
    this.deps.metrics.queueChanged(-before.n, -before.bytes, 0, 0);
    this.deps.logger.error(`stream ${this.streamId}: ${n} segment(s) given up: ${why}`);
    this.notify();
  }

  /** Moves `head` and every segment behind it one seq up; false when the skips ran out (publish as it is). */
  private renumber(head: Queued): boolean {
    if (this.skips >= MAX_SEQ_SKIPS) return false;
    this.skips++;
    for (const q of this.queue.entries()) {
      q.placed = { ...q.placed, seq: q.placed.seq + 1 };
      q.cursorAfter = { ...q.cursorAfter, nextSeq: q.cursorAfter.nextSeq + 1 };
    }
    if (this.cursor) this.cursor = { ...this.cursor, nextSeq: this.cursor.nextSeq + 1 };
    head.attempts = 0;
    head.refusals = 0;
    this.deps.logger.warn(`stream ${this.streamId}: seq ${head.placed.seq - 1} was already in the dedup window; now at seq ${head.placed.seq}`);
    return true;
  }

  /** `work`, or a Disconnected error as soon as the connection drops while it is under way. */
  private async whileConnected<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const lost = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        if (!this.deps.outlet.connected()) reject(new Disconnected('connection to NATS lost while publishing'));
      }, LINK_POLL_MS);
    });
    // The abandoned publish may still settle (a timeout, or an ack after the retry): nobody waits for it.
    work.catch(() => undefined);
    try {
      return await Promise.race([work, lost]);
    } finally {
      clearInterval(timer);
    }
  }

  private async untilConnected(): Promise<void> {
    while (!this.deps.outlet.connected() && !this.closing) await new Promise((r) => setTimeout(r, LINK_POLL_MS));
  }

  private async published(item: Queued, subject: string): Promise<void> {
    const { logger, metrics } = this.deps;
    const { placed, session } = item;
    this.drops.published(placed.seq);
    metrics.segmentsPublished.inc({ source: session.source });
    metrics.bytesPublished.inc({ source: session.source }, item.bytes);
    logger.debug(`stream ${this.streamId} seq ${placed.seq}: ${item.bytes} B pts ${placed.pts.toFixed(3)} dur ${placed.duration.toFixed(3)} epoch ${placed.epoch} -> ${subject}`);
    if (placed.epoch !== (this.lastEpoch ?? placed.epoch)) {
      logger.log(`stream ${this.streamId} seq ${placed.seq}: the source timeline restarted; epoch ${placed.epoch} (delivery marks a discontinuity)`);
    }
    this.lastEpoch = placed.epoch;
    try {
      const inputKbps = segmentKbps(item.bytes, placed.duration);
      await this.deps.directory.saveCursor({ ...item.cursorAfter, ...(inputKbps !== undefined ? { inputKbps } : {}), updatedAt: new Date().toISOString() });
    } catch (e) {
      // The next write catches up; a lost one is repaired by the duplicate check above.
      logger.warn(`stream ${this.streamId} seq ${placed.seq}: cursor not saved: ${(e as Error).message}`);
    }
    if (session.published++ === 0) {
      await this.deps.outlet
        .event({
          streamId: this.streamId,
          kind: 'publishing',
          seq: placed.seq,
          message: `first segment from the ${session.source === 'rtmp' ? 'RTMP publisher' : 'pulled source'} is on hop 0`,
          data: { source: session.source, epoch: placed.epoch },
        })
        .catch((e: Error) => logger.warn(`stream ${this.streamId}: 'publishing' event not sent: ${e.message}`));
    }
  }

  /** Sends the drop runs that are complete (all of them when `all`), while the bus is reachable; the rest wait. */
  private async report(all = false): Promise<void> {
    if (all) this.drops.close();
    if (!this.drops.pending || !this.deps.outlet.connected()) return;
    const runs = this.drops.take();
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i] as SegmentsDroppedData;
      try {
        await this.deps.outlet.event({
          streamId: this.streamId,
          kind: 'segments-dropped',
          seq: run.from,
          message: dropMessage(run),
          data: { ...run },
        });
        this.deps.logger.warn(`stream ${this.streamId}: ${dropMessage(run)}`);
      } catch (e) {
        this.drops.putBack(runs.slice(i));
        this.deps.logger.warn(`stream ${this.streamId}: 'segments-dropped' event not sent yet: ${(e as Error).message}`);
        return;
      }
    }
  }
}

function dropMessage(run: SegmentsDroppedData): string {
  const range = run.from === run.to ? `seq ${run.from}` : `seqs ${run.from}-${run.to}`;
  const why = run.reason === 'ingest-queue-full' ? "ingest's queue to the bus was full (NATS unreachable or too slow)" : run.reason === 'queue-full' ? "the stream's share of LM_SEG was full" : 'too late for the latency budget';
  return `${run.count} segment(s) dropped, ${range}: ${why}`;
}
