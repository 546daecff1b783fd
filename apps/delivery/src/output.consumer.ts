import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { BadSegmentError, STREAMS, consumers, parseOutputSubject, subjects } from '@livemesh/contracts';
import { Bus, ensureDurable, readSegment, type Consumer, type JsMsg } from '@livemesh/bus';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsRegistry } from './hls.registry.js';

type DurableConfig = Parameters<typeof ensureDurable>[2];
type ConsumerMessages = Awaited<ReturnType<Consumer['consume']>>;

const ACK_WAIT_MS = 30_000;
const RETRY_MS = 1_000;

/**
 * Consumes `lm.out.>` with the durable `delivery` consumer and hands each segment to the registry.
 * A malformed message is logged and acked away (retrying cannot fix it); a segment whose blob
 * cannot be fetched right now is nak'ed to come back. After a restart the consumer redelivers what
 * was not acked; anything older than the window just slides out. Rebuilding the window from
 * LM_OUT's retained history on start is a later improvement.
 */
@Injectable()
export class OutputConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(OutputConsumer.name);
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  private stopping = false;

  constructor(
    private readonly bus: Bus,
    private readonly registry: HlsRegistry,
    private readonly metrics: DeliveryMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Awaited here so the app only reports ready once its consumer exists.
    const consumer = await this.ensureConsumer();
    this.loop = this.run(consumer);
  }

  /** SIGTERM: stop pulling, finish the segment in hand; what was pulled but not handled is redelivered. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }

  private ensureConsumer(): Promise<Consumer> {
    const config: DurableConfig = {
      durable_name: consumers.delivery,
      filter_subject: subjects.allOutput,
      ack_policy: 'explicit' as DurableConfig['ack_policy'],
      deliver_policy: 'all' as DurableConfig['deliver_policy'],
      ack_wait: ACK_WAIT_MS * 1_000_000,
      max_ack_pending: 1024,
    };
    return ensureDurable(this.bus, STREAMS.output, config);
  }

  private async run(first: Consumer): Promise<void> {
    let consumer: Consumer | undefined = first;
    while (!this.stopping) {
      try {
        consumer ??= await this.ensureConsumer();
        this.messages = await consumer.consume({ max_messages: 64 });
        if (this.stopping) await this.messages.close();
        for await (const msg of this.messages) await this.handle(msg);
        if (!this.stopping) this.logger.warn(`consumer ${consumers.delivery} stopped; consuming again`);
      } catch (e) {
        if (this.stopping) break;
        this.logger.warn(`consumer ${consumers.delivery} failed (${(e as Error).message}); retrying in ${RETRY_MS} ms`);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
      consumer = undefined;
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    try {
      const segment = await readSegment(this.bus, msg);
      const where = parseOutputSubject(msg.subject);
      if (!where) throw new BadSegmentError(`subject ${msg.subject} is not an output subject`);
      if (where.streamId !== segment.meta.streamId || where.rendition !== segment.meta.rendition) {
        throw new BadSegmentError(
          `subject ${msg.subject} says ${where.streamId}/${where.rendition} but the headers say ${segment.meta.streamId}/${segment.meta.rendition} (seq ${segment.meta.seq})`,
        );
      }
      this.registry.accept(segment);
      msg.ack();
    } catch (e) {
      if (e instanceof BadSegmentError) {
        this.metrics.dropped.inc({ reason: 'malformed' });
        this.logger.warn(`bad segment on ${msg.subject} (stream seq ${msg.seq}): ${e.message}; dropped`);
        msg.ack();
        return;
      }
      // The object store or the bus hiccupped: the segment itself may be fine, so it comes back.
      this.logger.error(`segment on ${msg.subject} (stream seq ${msg.seq}) could not be handled: ${(e as Error).message}; redelivering`);
      msg.nak(RETRY_MS);
    }
  }
}
