import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BadSegmentError, STREAMS, parseOutputSubject, subjects, type Segment } from '@livemesh/contracts';
import { Bus, DeliverPolicy, readSegment, type JsMsg } from '@livemesh/bus';
import { ConsumeLoop } from './consume.loop.js';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsRegistry } from './hls.registry.js';

const RETRY_MS = 1_000;
const READ_ATTEMPTS = 3;

/**
 * Reads `lm.out.>` with an ordered consumer from the start of what LM_OUT retains, and hands each
 * segment to the registry with its LM_OUT sequence (the time-shift index reads old bytes back by
 * it). Reading everything retained at boot rebuilds every stream's window and time-shift index
 * after a restart, and each delivery replica sees every segment (a shared durable would split them
 * between replicas). Nothing is acked: LM_OUT ages segments out by itself (OUTPUT_RETENTION_SECONDS).
 */
@Injectable()
export class OutputConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutputConsumer.name);
  private readonly bootAt = Date.now();
  private readonly loop: ConsumeLoop;

  constructor(
    private readonly bus: Bus,
    private readonly registry: HlsRegistry,
    private readonly metrics: DeliveryMetrics,
  ) {
    this.loop = new ConsumeLoop(
      'output consumer',
      () => this.bus.js.consumers.get(STREAMS.output, { filter_subjects: subjects.allOutput, deliver_policy: DeliverPolicy.All }),
      (msg) => this.handle(msg),
      this.logger,
    );
  }

  onApplicationBootstrap(): Promise<void> {
    return this.loop.start();
  }

  /** SIGTERM: stop reading and finish the segment in hand. */
  beforeApplicationShutdown(): Promise<void> {
    return this.loop.stop();
  }

  private async handle(msg: JsMsg): Promise<void> {
    try {
      const segment = await this.read(msg);
      const where = parseOutputSubject(msg.subject);
      if (!where) throw new BadSegmentError(`subject ${msg.subject} is not an output subject`);
      if (where.streamId !== segment.meta.streamId || where.rendition !== segment.meta.rendition) {
        throw new BadSegmentError(
          `subject ${msg.subject} says ${where.streamId}/${where.rendition} but the headers say ${segment.meta.streamId}/${segment.meta.rendition} (seq ${segment.meta.seq})`,
        );
      }
      this.registry.accept(segment, { ref: msg.seq, replayed: msg.time.getTime() < this.bootAt });
    } catch (e) {
      const why = e instanceof BadSegmentError ? 'malformed' : 'unreadable';
      this.metrics.dropped.inc({ reason: why });
      this.logger.warn(`segment on ${msg.subject} (LM_OUT seq ${msg.seq}) ${why}: ${(e as Error).message}; dropped`);
    }
  }

  /** A segment whose blob the object store cannot give right now is tried again a few times. */
  private async read(msg: JsMsg): Promise<Segment> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await readSegment(this.bus, msg);
      } catch (e) {
        if (e instanceof BadSegmentError || attempt >= READ_ATTEMPTS) throw e;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }
}
