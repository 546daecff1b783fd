import type { BusConsumer, ConnectionChange, ConsumedMsg, MessageFeed } from './bus.types.js';

type ConsumerMessages = MessageFeed<ConsumedMsg>;

const RETRY_MS = 1_000;

/** What the loop logs through (a Nest Logger is one). */
export interface LoopLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ConsumeLoopOptions {
  /** Connection changes (`bus.connectionChanges()`): on a reconnect the consumer is reopened. */
  reconnects?: () => AsyncIterable<ConnectionChange>;
  /** Called each time the consumer is opened again after a failure or a reconnect (a metric). */
  reopened?: () => void;
  /** Messages the client buffers ahead (default 64). */
  maxMessages?: number;
  /**
   * For a durable consumer that `open` creates: when it vanishes from the server (deleted by hand,
   * a lost store), end the feed and open it again, rather than wait for someone to recreate it.
   */
  recreateMissing?: boolean;
  /**
   * A watchdog for a consumer that goes silent while there is more to read (seen with an ordered
   * consumer after a NATS cluster's rolling restart: no error, no reconnect of ours, no message).
   * When nothing has been handled for `afterMs` and `behind(lastHandled)` says the stream holds
   * messages past the last one handled, the consumer is reopened from there. A failing `behind`
   * (the bus in an election) counts as not behind.
   */
  stall?: { afterMs: number; behind: (lastHandled: number | undefined) => Promise<boolean> };
}

/**
 * Reads a consumer until stop(), one message at a time, and opens it again when it stops or fails
 * (after RETRY_MS). An ordered consumer lives only as long as its subscription, so `open` decides
 * where the new one starts, told the stream sequence of the last message handled; a durable
 * consumer remembers its place on the server, and `open` just binds to it again.
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
  /** When the last message was handled, or the consumer (re)opened. */
  private progressAt = Date.now();
  private watchdog?: NodeJS.Timeout;
  private checking = false;

  constructor(
    /** Names the consumer in logs ("output consumer"). */
    private readonly what: string,
    private readonly open: (afterSeq?: number) => Promise<BusConsumer>,
    private readonly handle: (msg: ConsumedMsg) => void | Promise<void>,
    private readonly logger: LoopLogger,
    private readonly opts: ConsumeLoopOptions = {},
  ) {}

  /** Resolves once the first consumer exists, so the app only reports ready with it in place. */
  async start(): Promise<void> {
    const consumer = await this.open();
    this.progressAt = Date.now();
    this.loop = this.run(consumer);
    if (this.opts.reconnects) void this.watch(this.opts.reconnects());
    const stall = this.opts.stall;
    if (stall) {
      this.watchdog = setInterval(() => void this.checkStall(stall), Math.max(100, stall.afterMs / 4));
      this.watchdog.unref();
    }
  }

  private async checkStall(stall: NonNullable<ConsumeLoopOptions['stall']>): Promise<void> {
    if (this.checking || this.stopping || Date.now() - this.progressAt < stall.afterMs) return;
    this.checking = true;
    try {
      if (!(await stall.behind(this.lastSeq).catch(() => false)) || this.stopping) return;
      if (Date.now() - this.progressAt < stall.afterMs) return;
      this.logger.warn(`${this.what}: nothing read for ${Math.round((Date.now() - this.progressAt) / 1000)} s while the stream holds more after LM seq ${this.lastSeq ?? 'none'}; reopening`);
      this.progressAt = Date.now();
      await this.messages?.close().catch(() => undefined);
    } finally {
      this.checking = false;
    }
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
    clearInterval(this.watchdog);
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }

  private async run(first: BusConsumer): Promise<void> {
    let consumer: BusConsumer | undefined = first;
    while (!this.stopping) {
      try {
        consumer ??= await this.open(this.lastSeq);
        this.progressAt = Date.now();
        this.messages = await consumer.consume({ maxMessages: this.opts.maxMessages ?? 64, abortOnMissing: this.opts.recreateMissing });
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
    this.progressAt = Date.now();
  }
}
