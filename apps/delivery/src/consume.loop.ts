import type { Logger } from '@nestjs/common';
import type { BusConsumer, ConnectionChange, ConsumedMsg, MessageFeed } from '@livemesh/bus';

type ConsumerMessages = MessageFeed<ConsumedMsg>;

const RETRY_MS = 1_000;

/**
 * Reads an ordered consumer until stop(), one message at a time. An ordered consumer lives only
 * as long as its subscription: when it stops or fails, a new one is opened (`open` decides where
 * it starts, told the stream sequence of the last message handled) after RETRY_MS.
 *
 * A message whose handler throws is logged and passed over, never a reason to reopen: reopening
 * reads the message again, so one bad message would stop the consumer for good.
 *
 * After a reconnect to NATS (`reconnects`) the consumer is reopened from the last message handled
 * rather than left to recover by itself: a restarted nats-server answers "jetstream is not
 * enabled" until its JetStream has recovered, and an ordered consumer caught in that can stay
 * silent well past it. Opening fails until JetStream answers, and is tried every RETRY_MS.
 */
export class ConsumeLoop {
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  private stopping = false;
  /** Stream sequence of the last message handled (or passed over). */
  private lastSeq?: number;

  constructor(
    /** Names the consumer in logs ("output consumer"). */
    private readonly what: string,
    private readonly open: (afterSeq?: number) => Promise<BusConsumer>,
    private readonly handle: (msg: ConsumedMsg) => void | Promise<void>,
    private readonly logger: Logger,
    private readonly opts: { reconnects?: () => AsyncIterable<ConnectionChange>; reopened?: () => void } = {},
  ) {}

  /** Resolves once the first consumer exists, so the app only reports ready with it in place. */
  async start(): Promise<void> {
    const consumer = await this.open();
    this.loop = this.run(consumer);
    if (this.opts.reconnects) void this.watch(this.opts.reconnects());
  }

  private async watch(changes: AsyncIterable<ConnectionChange>): Promise<void> {
    try {
      for await (const change of changes) {
        if (this.stopping) return;
        if (change !== 'reconnect') continue;
        this.logger.log(`${this.what}: reconnected to NATS; reopening after LM seq ${this.lastSeq ?? 'none'}`);
        await this.messages?.close().catch(() => undefined);
      }
    } catch {
      // The connection closed: there is nothing to reopen on.
    }
  }

  /** Stops reading; resolves once the message in hand is handled. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }

  private async run(first: BusConsumer): Promise<void> {
    let consumer: BusConsumer | undefined = first;
    while (!this.stopping) {
      try {
        consumer ??= await this.open(this.lastSeq);
        this.messages = await consumer.consume({ maxMessages: 64 });
        if (this.stopping) await this.messages.close();
        for await (const msg of this.messages) await this.handleOne(msg);
        if (!this.stopping) this.logger.warn(`${this.what} stopped; consuming again`);
      } catch (e) {
        if (this.stopping) break;
        this.logger.warn(`${this.what} failed (${(e as Error).message}); retrying in ${RETRY_MS} ms`);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
      consumer = undefined;
      if (!this.stopping) this.opts.reopened?.();
    }
  }

  private async handleOne(msg: ConsumedMsg): Promise<void> {
    try {
      await this.handle(msg);
    } catch (e) {
      this.logger.error(`${this.what}: message ${msg.seq} on ${msg.subject} failed (${(e as Error).message}); passed over`);
    }
    this.lastSeq = msg.seq;
  }
}
