// What the bus hands callers, in our own terms: every NATS client type stays inside libs/bus. A
// NATS message satisfies these shapes, so the adapters pass messages through without copying.

/** A message's headers (read side). */
export interface BusHeaders extends Iterable<[string, string[]]> {
  /** The first value of `name`, '' when absent. */
  get(name: string): string;
  has(name: string): boolean;
  keys(): string[];
  values(name: string): string[];
}

/** Headers to publish: name -> value (one value each). */
export type HeaderValues = Record<string, string>;

/** A message as it crossed core NATS (a subscription). */
export interface BusMsg {
  subject: string;
  data: Uint8Array;
  headers?: BusHeaders;
  string(): string;
  json<T = unknown>(): T;
}

/** A message stored in a JetStream stream, with its stream sequence and the time it was stored. */
export interface StoredMsg extends BusMsg {
  seq: number;
  time: Date;
}

/** A stored message handed out by a consumer: the receiver settles it. */
export interface ConsumedMsg extends StoredMsg {
  redelivered: boolean;
  info: { deliveryCount: number; pending: number; streamSequence: number };
  ack(): void;
  /** Acks and waits for the server to confirm (false when it did not). */
  ackAck(): Promise<boolean>;
  /** Redeliver, after `delayMs` when given. */
  nak(delayMs?: number): void;
  /** Still working on it: restarts the ack wait. */
  working(): void;
  /** Never redeliver. */
  term(reason?: string): void;
}

/** Messages as they arrive, until stop() (at once) or close() (after the buffered ones). */
export interface MessageFeed<M> extends AsyncIterable<M> {
  stop(): void;
  close(): Promise<void | Error>;
}

/** A JetStream consumer: durable (progress kept on the server) or ordered (ours alone, gone with us). */
export interface BusConsumer {
  /** Starts pulling; `maxMessages` is how many are buffered (and unacked) at once. */
  /**
   * Messages as they come. By default a consumer or stream that vanishes is waited for (the feed
   * resumes if it is created again); with `abortOnMissing` the feed ends with an error instead, so
   * the caller can create it again.
   */
  consume(opts?: { maxMessages?: number; abortOnMissing?: boolean }): Promise<MessageFeed<ConsumedMsg>>;
  /** One batch: up to `maxMessages`, ending after `expiresMs` with what arrived. */
  fetch(opts: { maxMessages: number; expiresMs: number }): Promise<MessageFeed<ConsumedMsg>>;
  info(): Promise<ConsumerState>;
}

/** A core NATS subscription: every message on the subject from now on, nothing stored. */
export interface BusSubscription extends AsyncIterable<BusMsg> {
  unsubscribe(): void;
}

/** Where a consumer starts: the oldest stored message, only new ones, after a sequence, or from a time. */
export type StartAt = 'all' | 'new' | { afterSeq: number } | { since: Date };

export interface StreamState {
  messages: number;
  bytes: number;
  firstSeq: number;
  lastSeq: number;
  /** Message count per subject, when asked for with a subject filter. */
  subjects: Record<string, number>;
}

export interface ConsumerState {
  name: string;
  /** Stored messages that match the filter and were not delivered yet. */
  pending: number;
  /** Delivered but not acked yet. */
  ackPending: number;
  redelivered: number;
  /** Stream sequence of the last message delivered. */
  deliveredSeq: number;
  /** Stream sequence below which every message is acked. */
  ackFloorSeq: number;
  /** Deliveries of one message before the server gives it up (-1: no limit). */
  maxDeliver: number;
}

export interface DurableConsumerOptions {
  /** Durable name: progress survives restarts of its readers. */
  name: string;
  /** Subject filter within the stream. */
  filter: string;
  /** Time a reader has to ack (or say working) before the message is redelivered, ms. */
  ackWaitMs: number;
  /** Deliveries before the server gives the message up (and sends the max-deliveries advisory). */
  maxDeliver: number;
  /** Messages delivered and not acked at once, across every reader. */
  maxAckPending: number;
  /** Where a new consumer starts (default all); an existing one keeps its position. */
  startAt?: 'all' | 'new';
}

export interface PublishOptions {
  /** Nats-Msg-Id: a second publish with the same id inside the duplicate window is dropped. */
  msgId?: string;
  headers?: HeaderValues;
}

/** What the server said about a publish it stored. */
export interface PublishAck {
  stream: string;
  seq: number;
  /** True when the server dropped it as a duplicate of an earlier publish with the same msgId. */
  duplicate: boolean;
}

/** The server's advisory that a stored message reached its consumer's max_deliver. */
export interface MaxDeliveriesAdvisory {
  stream: string;
  consumer: string;
  /** Stream sequence of the message (still stored: a work queue keeps it until it is acked or deleted). */
  streamSeq: number;
  deliveries: number;
}

/** Connection changes a process reports (health, logs). */
export type ConnectionChange = 'disconnect' | 'reconnect';
