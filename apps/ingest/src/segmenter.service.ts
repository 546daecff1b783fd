import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Bus, publishSegment, publishStreamEvent } from '@livemesh/bus';
import { assertToken, ENV, type IngestSettings } from '@livemesh/contracts';
import { BusStatus } from './bus.status.js';
import { FirstHops } from './first.hops.js';
import { IngestSession, type IngestStream, type SessionSource } from './ingest.session.js';
import { IngestMetrics } from './ingest.metrics.js';
import { SegmentSink, type SegmentOutlet } from './segment.sink.js';
import { StreamDirectory } from './stream.directory.js';

/** A source silent this long ends the run, which then restarts. */
const RW_TIMEOUT_MS = 15_000;

/**
 * Runs the segmenter of each stream that has a source (an RTMP publisher, an SRT listener or a
 * pulled URL): one IngestSession per stream at a time, on the stream's IngestStream (its sink,
 * which outlives sessions). Calls go one way: service -> session -> run -> sink; the service
 * only waits on what its sessions expose (`done`, `flushed`).
 */
@Injectable()
export class SegmenterService {
  private readonly logger = new Logger(SegmenterService.name);
  private readonly sessions = new Map<string, IngestSession>();
  private readonly streams = new Map<string, IngestStream>();
  /** A source that runs whenever nothing else feeds the stream (its SRT listener). */
  private readonly standby = new Map<string, SessionSource>();
  private shuttingDown = false;
  private readonly root: string;
  /** Ended sessions whose last segments are still on their way out (then 'publish-ended'). */
  private readonly ending = new Set<Promise<void>>();
  private readonly outlet: SegmentOutlet;

  constructor(
    @Inject(ENV) private readonly env: IngestSettings,
    @Inject(Bus) bus: Bus,
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
    const settings = { ffmpegPath: this.env.FFMPEG_PATH, segmentSeconds: this.env.SEGMENT_SECONDS, dir: join(this.root, streamId), rwTimeoutMs: RW_TIMEOUT_MS };
    const session = new IngestSession(this.stream(streamId), source, settings, this.metrics, this.logger);
    this.sessions.set(streamId, session);
    void session.done.finally(() => {
      if (this.sessions.get(streamId) === session) this.sessions.delete(streamId);
    });
    const flushed = session.flushed.finally(() => this.ending.delete(flushed));
    this.ending.add(flushed);
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
    const sink = this.streams.get(streamId)?.sink;
    // What is left goes out if the bus takes it now; a cursor saved after the delete would bring the stream back.
    sink?.close();
    await sink?.idle();
    this.streams.delete(streamId);
    await this.directory.deleteCursor(streamId).catch((e: Error) => this.logger.warn(`stream ${streamId}: cursor not deleted: ${e.message}`));
  }

  /** No standby source starts any more (the app is going down); queued segments that cannot go out now are given up. */
  beginShutdown(): void {
    this.shuttingDown = true;
    for (const { sink } of this.streams.values()) sink.close();
  }

  /** Every session ends, and every segment they cut is published (or given up) and reported. */
  async endAll(): Promise<void> {
    this.beginShutdown();
    await Promise.all([...this.sessions.keys()].map((id) => this.end(id)));
    while (this.ending.size > 0) await Promise.all([...this.ending]);
  }

  /** The stream's state across sessions, made on its first session. */
  private stream(streamId: string): IngestStream {
    let stream = this.streams.get(streamId);
    if (!stream) {
      const sink = new SegmentSink(streamId, {
        chains: this.chains,
        directory: this.directory,
        outlet: this.outlet,
        metrics: this.metrics,
        logger: this.logger,
        limits: { maxSegments: this.env.INGEST_QUEUE_SEGMENTS, maxBytes: this.env.INGEST_QUEUE_BYTES },
      });
      if (this.shuttingDown) sink.close();
      stream = { id: streamId, sink, reencode: false };
      this.streams.set(streamId, stream);
    }
    return stream;
  }
}
