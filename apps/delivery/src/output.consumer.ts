import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BadSegmentError, SEGMENT_HEADERS, STREAMS, parseOutputSubject, subjects, type Segment } from '@livemesh/contracts';
import { Bus, ConsumeLoop, decodeSegmentHeaders, readSegment, type ConsumedMsg } from '@livemesh/bus';
import { DeliveryCheckpointer } from './delivery.checkpoint.js';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsRegistry } from './hls.registry.js';
import { Refusals, type RefusalReason } from './refusals.js';

const RETRY_MS = 1_000;
const READ_ATTEMPTS = 3;
/**
 * All header names and values of one segment message. What ingest and the stages write is well
 * under 1 KiB; only `Lm-Transfer` (a hop's JSON) can grow, and SegmentMeta bounds every other
 * field but not it. JetStream itself refuses more than 64 KiB of headers.
 */
export const MAX_HEADER_BYTES = 16 * 1024;
/**
 * Largest segment delivery holds (inline or claim-checked): a few seconds of video at a very high
 * bit rate is well under it. Delivery keeps a window of segments per rendition in memory, so one
 * forged blob of gigabytes must not be read.
 */
export const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

/** A message refused before it reached the registry. */
class Refused extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads `lm.out.>` with an ordered consumer and hands each segment to the registry with its LM_OUT
 * sequence (the time-shift index reads old bytes back by it). At boot it starts after the point
 * the checkpoints need (DeliveryCheckpointer), or without a checkpoint from the start of what
 * LM_OUT retains, which rebuilds every window and time-shift index. Each delivery replica sees
 * every segment (a shared durable would split them between replicas). Nothing is acked: LM_OUT
 * ages segments out by itself (OUTPUT_RETENTION_SECONDS).
 */
/**
 * Silence on the output consumer while LM_OUT holds unread segments, after which it is reopened:
 * three 2 s segments, about what a player holds behind the live edge.
 */
const STALL_MS = 6_000;

@Injectable()
export class OutputConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutputConsumer.name);
  private readonly bootAt = Date.now();
  private readonly loop: ConsumeLoop;
  /** Where the checkpoint says to start; undefined: from the start of LM_OUT. */
  private resumeAfter?: number;

  constructor(
    private readonly bus: Bus,
    private readonly registry: HlsRegistry,
    private readonly refusals: Refusals,
    private readonly checkpoints: DeliveryCheckpointer,
    private readonly metrics: DeliveryMetrics,
  ) {
    this.loop = new ConsumeLoop(
      'output consumer',
      // After a failure, on from the last message handled: reading everything again would rebuild
      // windows that are already built (and read a message that made the handler fail once more).
      (after) => {
        const from = after ?? this.resumeAfter;
        return this.bus.orderedConsumer(STREAMS.output, { filter: subjects.allOutput, startAt: from === undefined ? 'all' : { afterSeq: from } });
      },
      (msg) => this.handle(msg),
      this.logger,
      {
        reconnects: () => this.bus.connectionChanges(),
        reopened: () => this.metrics.consumerReopens.inc(),
        // LM_OUT holds only what this consumer reads (lm.out.>): past its last sequence is unread.
        stall: {
          afterMs: STALL_MS,
          behind: async (last) => {
            const s = await this.bus.streamInfo(STREAMS.output);
            return s.messages > 0 && s.lastSeq > (last ?? this.resumeAfter ?? 0);
          },
        },
      },
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    this.resumeAfter = await this.checkpoints.restore();
    await this.loop.start();
  }

  /** SIGTERM: stop reading, finish the segment in hand, then write a last checkpoint. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.loop.stop();
    await this.checkpoints.flush();
  }

  /**
   * Never throws: whatever is wrong with a message (and anything the registry throws on it) is
   * counted, logged once per stream and reason, and the consumer goes on with the next one.
   */
  private async handle(msg: ConsumedMsg): Promise<void> {
    try {
      await this.handleOne(msg);
    } finally {
      this.checkpoints.handled(msg.seq);
    }
  }

  private async handleOne(msg: ConsumedMsg): Promise<void> {
    const where = parseOutputSubject(msg.subject);
    if (where && this.checkpoints.alreadyHeld(where.streamId, msg.seq)) {
      this.metrics.checkpointSkipped.inc();
      return;
    }
    try {
      if (!where) throw new BadSegmentError(`subject ${msg.subject} is not an output subject`);
      this.checkSizes(msg);
      if (msg.headers?.has(SEGMENT_HEADERS.gap)) {
        this.gap(msg, where);
        return;
      }
      const segment = await this.read(msg);
      if (where.streamId !== segment.meta.streamId || where.rendition !== segment.meta.rendition) {
        throw new BadSegmentError(
          `subject ${msg.subject} says ${where.streamId}/${where.rendition} but the headers say ${segment.meta.streamId}/${segment.meta.rendition} (seq ${segment.meta.seq})`,
        );
      }
      this.registry.accept(segment, { ref: msg.seq, replayed: msg.time.getTime() < this.bootAt });
    } catch (e) {
      const why = e instanceof Refused ? e.reason : e instanceof BadSegmentError ? 'malformed' : 'unreadable';
      this.refusals.refuse(where?.streamId, why, `segment on ${msg.subject} (LM_OUT seq ${msg.seq}): ${(e as Error).message}`);
    }
  }

  /**
   * A gap marker ("seq N will not come", SEGMENT_HEADERS.gap): validated like a segment's headers
   * (the reason must be one SegmentMeta knows), with no bytes and no blob, on its own stream's
   * and rendition's subject.
   */
  private gap(msg: ConsumedMsg, where: { streamId: string; rendition: string }): void {
    if (msg.data.byteLength > 0 || msg.headers?.has(SEGMENT_HEADERS.blob)) throw new BadSegmentError(`gap marker on ${msg.subject} carries a payload`);
    const meta = decodeSegmentHeaders(msg.headers);
    if (where.streamId !== meta.streamId || where.rendition !== meta.rendition) {
      throw new BadSegmentError(`gap marker on ${msg.subject} says ${meta.streamId}/${meta.rendition} (seq ${meta.seq})`);
    }
    this.registry.markGap(meta, { replayed: msg.time.getTime() < this.bootAt });
  }

  /** Before anything is parsed or fetched: the headers' total size and the payload's (or its blob's) size. */
  private checkSizes(msg: ConsumedMsg): void {
    let headerBytes = 0;
    for (const [name, values] of msg.headers ?? []) for (const v of values) headerBytes += name.length + v.length;
    if (headerBytes > MAX_HEADER_BYTES) throw new Refused('header-too-large', `${headerBytes} bytes of headers (at most ${MAX_HEADER_BYTES})`);
    if (msg.data.byteLength > MAX_SEGMENT_BYTES) throw new Refused('payload-too-large', `${msg.data.byteLength} bytes (at most ${MAX_SEGMENT_BYTES})`);
  }

  /** A segment whose blob the object store cannot give right now is tried again a few times. */
  private async read(msg: ConsumedMsg): Promise<Segment> {
    const blob = msg.headers?.get(SEGMENT_HEADERS.blob);
    for (let attempt = 1; ; attempt++) {
      try {
        if (blob) {
          const size = await this.bus.blobSize(blob);
          if (size !== undefined && size > MAX_SEGMENT_BYTES) throw new Refused('payload-too-large', `blob ${blob} holds ${size} bytes (at most ${MAX_SEGMENT_BYTES})`);
        }
        this.metrics.payloadReads.inc();
        return await readSegment(this.bus, msg);
      } catch (e) {
        if (e instanceof BadSegmentError || e instanceof Refused || attempt >= READ_ATTEMPTS) throw e;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }
}
