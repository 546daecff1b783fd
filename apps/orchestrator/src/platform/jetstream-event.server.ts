import { Logger } from '@nestjs/common';
import { BaseRpcContext, Server, type CustomTransportStrategy } from '@nestjs/microservices';
import { isObservable, lastValueFrom } from 'rxjs';
import type { Bus, ConsumedMsg, MessageFeed } from '@livemesh/bus';

type ConsumerMessages = MessageFeed<ConsumedMsg>;

export interface JetStreamEventServerOptions {
  /** JetStream stream holding the events. */
  stream: string;
  /** Durable consumer name: progress survives restarts, so nothing published meanwhile is lost. */
  durable: string;
  filterSubject: string;
  /** Time a handler has before the event is redelivered, ms. */
  ackWaitMs?: number;
  /** Deliveries before an event is given up (terminated): only redeliveries after a crash count. */
  maxDeliver?: number;
  /** Events handled at once (JetStream's max_ack_pending); events of one stream stay in order. */
  maxInFlight?: number;
}

/** The key that keeps one stream's events in order: the body's `id`, else the event itself. */
export function orderKey(data: Uint8Array, seq: number): string {
  try {
    const id = (JSON.parse(new TextDecoder().decode(data)) as { id?: unknown })?.id;
    if (typeof id === 'string') return `id:${id}`;
  } catch {
    /* not JSON: the handler refuses it */
  }
  return `seq:${seq}`;
}

/** The context an `@EventPattern` handler gets: the JetStream message (subject, headers, delivery count). */
export class JetStreamContext extends BaseRpcContext<[ConsumedMsg]> {
  getMessage(): ConsumedMsg {
    return this.args[0];
  }
  getSubject(): string {
    return this.args[0].subject;
  }
}

/**
 * A Nest transport over a durable JetStream pull consumer. Nest's own NATS transport is core NATS
 * (at-most-once: an event published while the orchestrator is down is lost), which is why the
 * platform events come through this one instead. Up to maxInFlight events are handled at once,
 * so one slow or failing event never holds another platform's; events of one stream (same `id`)
 * are handled one after the other in stream order (a stop must not overtake its start). A handler
 * owns its retries (bounded, see event-failure.ts): one that resolves acks the event, one that
 * throws gets it terminated, since a redelivery could overtake the stream's next event.
 */
export class JetStreamEventServer extends Server implements CustomTransportStrategy {
  private readonly log = new Logger(JetStreamEventServer.name);
  private messages?: ConsumerMessages;
  private loop?: Promise<void>;
  /** The tail of each stream's queue of events. */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(
    private readonly bus: Bus,
    private readonly options: JetStreamEventServerOptions,
  ) {
    super();
  }

  async listen(callback: (...optionalParams: unknown[]) => unknown): Promise<void> {
    try {
      const { stream, durable, filterSubject } = this.options;
      const consumer = await this.bus.durableConsumer(stream, {
        name: durable,
        filter: filterSubject,
        ackWaitMs: this.options.ackWaitMs ?? 60_000,
        maxDeliver: this.options.maxDeliver ?? 5,
        maxAckPending: this.options.maxInFlight ?? 16,
      });
      this.messages = await consumer.consume({ maxMessages: 8 });
      this.loop = this.run(this.messages);
      this._status$.next('connected');
      this.log.log(`consuming ${filterSubject} from ${stream} as durable ${durable}`);
      callback();
    } catch (e) {
      callback(e);
    }
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    for await (const msg of messages) {
      const key = orderKey(msg.data, msg.seq);
      // A stop waits for segments to drain and a start may wait for a container, and an event may
      // wait behind its stream's previous one: keep the event ours meanwhile.
      const keepAlive = setInterval(() => msg.working(), Math.max(1000, (this.options.ackWaitMs ?? 60_000) / 3));
      const tail = (this.tails.get(key) ?? Promise.resolve())
        .then(() => this.dispatch(msg))
        .catch((e: unknown) => this.log.error(`event ${msg.subject} (stream seq ${msg.seq}) could not be settled: ${String(e)}`))
        .finally(() => {
          clearInterval(keepAlive);
          if (this.tails.get(key) === tail) this.tails.delete(key);
        });
      this.tails.set(key, tail);
    }
    await Promise.all(this.tails.values());
  }

  private async dispatch(msg: ConsumedMsg): Promise<void> {
    const handler = this.getHandlerByPattern(msg.subject);
    if (!handler) {
      this.log.warn(`no handler for ${msg.subject}; event acknowledged and dropped`);
      msg.ack();
      return;
    }
    try {
      const result = await handler(msg.data, new JetStreamContext([msg]));
      if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
      msg.ack();
    } catch (e) {
      const reason = e instanceof Error ? e.message : JSON.stringify(e);
      this.log.error(`event ${msg.subject} (stream seq ${msg.seq}) failed, giving it up: ${reason}`);
      msg.term(reason);
    }
  }

  async close(): Promise<void> {
    if (!this.messages) return;
    const messages = this.messages;
    this.messages = undefined;
    await messages.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
  }

  on(): never {
    throw new Error('JetStreamEventServer has no events to listen to');
  }

  /**
   * Nest's Server makes every transport hand out "the underlying client". Ours is the Bus: the
   * NATS clients stay inside libs/bus, so a caller that unwraps gets the same methods as everyone.
   */
  unwrap<T = Bus>(): T {
    return this.bus as T;
  }
}
