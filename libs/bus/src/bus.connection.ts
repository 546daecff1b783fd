import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type OrderedConsumerOptions,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { nanos } from '@nats-io/transport-node';
import {
  BUCKETS,
  BusError,
  SEGMENT_HEADERS,
  blobNames,
  subjects,
  type BucketName,
  type BucketValue,
} from '@livemesh/contracts';
import { toBusError, wrapped } from './bus.errors.js';
import { JsonStore } from './json.store.js';
import { openBusRelay } from './socket.relay.js';
import { inboxPrefixOfCreds } from './nats.auth.js';
import { PUBLISH_RETRY_DEFAULTS, clusterConnectOptions, publishWithRetry, type ClientTuning, type PublishRetryPolicy } from './client.options.js';
import type {
  BusConsumer,
  BusMsg,
  BusSubscription,
  ConnectionChange,
  ConsumedMsg,
  ConsumerState,
  DurableConsumerOptions,
  HeaderValues,
  MessageFeed,
  PublishAck,
  PublishOptions,
  StartAt,
  StoredMsg,
  StreamState,
} from './bus.types.js';

export interface BusOptions {
  /** Comma-separated server URLs. */
  url: string;
  /** Connection name, shown by the server's monitoring (e.g. `worker:transcode:1234`). */
  name: string;
  /** Give up connecting after this long (ms); reconnects after a successful connect go on forever. */
  connectTimeoutMs?: number;
  /**
   * A NATS credentials file (NATS_CREDS) to connect with; its inbox prefix, when it names one
   * (the credentials livemesh mints), becomes the connection's, so replies reach only it.
   */
  credsFile?: string;
  /** A CA file (NATS_TLS_CA) to verify the server's TLS certificate with; turns TLS on. */
  tlsCaFile?: string;
  /** Ping interval, reconnect pause and jitter (CLIENT_DEFAULTS otherwise). */
  tuning?: Partial<ClientTuning>;
  /** How long a publish with a message id is tried again (PUBLISH_RETRY_DEFAULTS otherwise). */
  publishRetry?: Partial<PublishRetryPolicy>;
}

/** The connection settings an Env names: its credentials and TLS CA, when set. */
export function busAuthFromEnv(env: { NATS_CREDS?: string; NATS_TLS_CA?: string }): Pick<BusOptions, 'credsFile' | 'tlsCaFile'> {
  return { ...(env.NATS_CREDS ? { credsFile: env.NATS_CREDS } : {}), ...(env.NATS_TLS_CA ? { tlsCaFile: env.NATS_TLS_CA } : {}) };
}

/** The NATS clients behind a Bus. Only files of libs/bus reach them (through `clientsOf`); index.ts does not export it. */
export interface BusClients {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv(bucket: BucketName | typeof BUCKETS.carry): Promise<KV>;
  /** The object store that holds blob `name` (blobNames.storeOf). */
  blobs(name: string): Promise<ObjectStore>;
}

const CLIENTS = new WeakMap<Bus, BusClients>();

/** The raw clients of `bus`, for the adapters inside libs/bus. */
export function clientsOf(bus: Bus): BusClients {
  const c = CLIENTS.get(bus);
  if (!c) throw new BusError('not a connected Bus');
  return c;
}

/**
 * One NATS connection and everything livemesh does on it: publish, subscribe, consume, stored
 * messages, stream and consumer state, typed KV stores, blobs. The NATS clients stay private:
 * callers see only these methods, our own types (bus.types.ts) and BusError (with `reason` for
 * the cases a caller must tell apart), so the technology behind the bus can change here alone.
 */
export class Bus {
  private readonly stores = new Map<string, JsonStore<unknown>>();

  private constructor(
    clients: BusClients,
    private readonly publishRetry: PublishRetryPolicy,
  ) {
    CLIENTS.set(this, clients);
  }

  private get c(): BusClients {
    return clientsOf(this);
  }

  static async connect(opts: BusOptions): Promise<Bus> {
    const deadline = Date.now() + (opts.connectTimeoutMs ?? 30_000);
    let lastError: unknown;
    let creds: string | undefined;
    if (opts.credsFile) {
      try {
        creds = await readFile(opts.credsFile, 'utf8');
      } catch (e) {
        throw new BusError(`cannot read the NATS credentials file ${opts.credsFile} (NATS_CREDS): ${(e as Error).message}`, { cause: e });
      }
    }
    const inboxPrefix = creds === undefined ? undefined : inboxPrefixOfCreds(creds);
    // `unix:///path` (a worker container without a network): nats.js dials a loopback relay to that socket.
    const relay = await openBusRelay(opts.url);
    // A fresh machine starts nats-server beside us: retry until it listens, then let the client reconnect forever.
    while (Date.now() < deadline) {
      try {
        const nc = await connect({
          // A seed list, reconnecting forever with jitter, pings that find a half-open link.
          ...clusterConnectOptions(opts.url, opts.tuning),
          ...(relay ? { servers: relay.servers, ignoreClusterUpdates: true } : {}),
          name: opts.name,
          timeout: 5_000,
          ...(creds !== undefined ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}),
          ...(inboxPrefix ? { inboxPrefix } : {}),
          ...(opts.tlsCaFile ? { tls: { caFile: opts.tlsCaFile } } : {}),
        });
        const jsm = await jetstreamManager(nc, { timeout: 10_000 });
        if (relay) void nc.closed().finally(() => relay.close());
        return new Bus(makeClients(nc, jetstream(nc, { timeout: 10_000 }), jsm), { ...PUBLISH_RETRY_DEFAULTS, ...opts.publishRetry });
      } catch (e) {
        // Wrong credentials do not get better by retrying.
        if (/authorization violation|authentication/i.test(String((e as Error)?.message ?? e))) {
          throw new BusError(`NATS at ${opts.url} refused ${opts.credsFile ? `the credentials in ${opts.credsFile}` : 'a connection without credentials (set NATS_CREDS)'}`, { cause: e });
        }
        lastError = e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await relay?.close();
    throw new BusError(`cannot connect to NATS at ${opts.url}`, { cause: lastError });
  }

  /** The JSON store of a KV bucket (created by ensureTopology), typed by the bucket (contracts' BucketValues). */
  store<B extends BucketName>(bucket: B): JsonStore<BucketValue<B>> {
    let store = this.stores.get(bucket);
    if (!store) {
      store = new JsonStore<BucketValue<B>>(this, bucket) as JsonStore<unknown>;
      this.stores.set(bucket, store);
    }
    return store as JsonStore<BucketValue<B>>;
  }

  // --- publishing -------------------------------------------------------------------------

  /**
   * Publishes to JetStream and waits for the stream to store it. With a message id, a publish that
   * got no ack (a leader election, a server restarting, a dropped link) is tried again until
   * `publishRetry.deadlineMs`: the id makes the server drop the copy if the first one landed.
   */
  async publish(subject: string, data: Uint8Array | string, opts: PublishOptions = {}): Promise<PublishAck> {
    const headers = opts.headers ? toHeaders(opts.headers) : undefined;
    const ack = await wrapped(`publish to ${subject}`, () =>
      this.retried(opts.msgId, (timeout) => this.c.js.publish(subject, data, { timeout, ...(opts.msgId ? { msgID: opts.msgId } : {}), ...(headers ? { headers } : {}) })),
    );
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  }

  /** `publish` tried again on transient failures when it carries a message id; once otherwise. */
  private retried<T>(msgId: string | undefined, publish: (timeoutMs: number) => Promise<T>): Promise<T> {
    if (!msgId) return publish(this.publishRetry.attemptTimeoutMs);
    return publishWithRetry(publish, this.publishRetry);
  }

  /**
   * Puts a message that ran out of attempts at `service` on `lm.dlq.<service>.<streamId>`: its
   * payload and headers as they came, plus `Lm-Error` (why, one line) and `Lm-Service`. Its
   * Nats-Msg-Id is kept, so dead-lettering the same segment twice stores it once. `reason` goes
   * into a header as it is: one line of printable ASCII (the stage SDK's headerSafe).
   */
  async publishDeadLetter(service: string, streamId: string, msg: Pick<BusMsg, 'data' | 'headers'>, reason: string): Promise<PublishAck> {
    const h = natsHeaders();
    for (const key of msg.headers?.keys() ?? []) for (const v of msg.headers!.values(key)) h.append(key, v);
    h.set(SEGMENT_HEADERS.error, reason);
    h.set(SEGMENT_HEADERS.service, service);
    const msgId = h.get(SEGMENT_HEADERS.msgId);
    const subject = subjects.deadLetter(service, streamId);
    const ack = await wrapped(`dead-letter to ${subject}`, () =>
      this.retried(msgId ?? undefined, (timeout) => this.c.js.publish(subject, msg.data, { timeout, headers: h, ...(msgId ? { msgID: msgId } : {}) })),
    );
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  }

  // --- core NATS --------------------------------------------------------------------------

  /**
   * A core NATS subscription (nothing stored: what is published while nobody listens is gone).
   * Use it for the live tail of status events and for the server's advisories. Call flush()
   * after it to be sure the server has it before relying on "from now on".
   */
  subscribe(subject: string, opts: { callback?: (err: BusError | null, msg: BusMsg) => void; max?: number } = {}): BusSubscription {
    const { callback } = opts;
    try {
      return this.c.nc.subscribe(subject, {
        ...(opts.max !== undefined ? { max: opts.max } : {}),
        ...(callback ? { callback: (err, msg) => callback(err ? toBusError(err, `subscription to ${subject}`) : null, msg) } : {}),
      });
    } catch (e) {
      throw toBusError(e, `subscribe to ${subject}`);
    }
  }

  /** Resolves once the server has processed everything sent so far (subscriptions included). */
  flush(): Promise<void> {
    return wrapped('flush', () => this.c.nc.flush());
  }

  // --- streams and stored messages --------------------------------------------------------

  /** Counts of a stream; with `subjects`, the count per subject matching that filter. */
  async streamInfo(stream: string, opts: { subjects?: string } = {}): Promise<StreamState> {
    const info = await wrapped(`info of stream ${stream}`, () =>
      this.c.jsm.streams.info(stream, opts.subjects ? { subjects_filter: opts.subjects } : undefined),
    );
    return {
      messages: info.state.messages,
      bytes: info.state.bytes,
      firstSeq: info.state.first_seq,
      lastSeq: info.state.last_seq,
      subjects: info.state.subjects ?? {},
    };
  }

  /** A stored message by stream sequence or as the last on a subject; undefined when there is none. */
  async getMessage(stream: string, at: { seq: number } | { lastBySubject: string }): Promise<StoredMsg | undefined> {
    const query = 'seq' in at ? { seq: at.seq } : { last_by_subj: at.lastBySubject };
    let m;
    try {
      m = await this.c.jsm.streams.getMessage(stream, query);
    } catch (e) {
      const err = toBusError(e, `get message ${JSON.stringify(query)} of ${stream}`);
      if (err.reason === 'not-found') return undefined;
      throw err;
    }
    if (!m) return undefined;
    return { subject: m.subject, seq: m.seq, time: m.time, data: m.data, headers: m.header, string: () => m.string(), json: <T>() => m.json<T>() };
  }

  /** Removes one stored message; false when it was not there. */
  async deleteMessage(stream: string, seq: number): Promise<boolean> {
    try {
      return await this.c.jsm.streams.deleteMessage(stream, seq, false);
    } catch (e) {
      const err = toBusError(e, `delete message ${seq} of ${stream}`);
      if (err.reason === 'not-found') return false;
      throw err;
    }
  }

  /** Removes every stored message of `stream` on subjects matching `filter`; resolves to how many. */
  async purge(stream: string, opts: { filter: string }): Promise<number> {
    const r = await wrapped(`purge ${opts.filter} from ${stream}`, () => this.c.jsm.streams.purge(stream, { filter: opts.filter }));
    return r.purged;
  }

  // --- consumers --------------------------------------------------------------------------

  /** State of a durable consumer. BusError `not-found` when it does not exist. */
  async consumerInfo(stream: string, name: string): Promise<ConsumerState> {
    return toConsumerState(await wrapped(`info of consumer ${name} on ${stream}`, () => this.c.jsm.consumers.info(stream, name)));
  }

  /**
   * An ordered consumer: ours alone, in stream order, no acks, gone when we stop. For readers that
   * keep their own position (delivery, the CLI's record).
   */
  async orderedConsumer(stream: string, opts: { filter: string | string[]; startAt: StartAt }): Promise<BusConsumer> {
    const config: Partial<OrderedConsumerOptions> = { filter_subjects: opts.filter, ...startConfig(opts.startAt) };
    return wrapConsumer(await wrapped(`ordered consumer on ${stream}`, () => this.c.js.consumers.get(stream, config)), `ordered consumer on ${stream}`);
  }

  /** An existing durable consumer, bound without creating or changing it. BusError `not-found` when it does not exist. */
  async boundConsumer(stream: string, name: string): Promise<BusConsumer> {
    return wrapConsumer(await wrapped(`consumer ${name} on ${stream}`, () => this.c.js.consumers.get(stream, name)), `consumer ${name} on ${stream}`);
  }

  /** Creates the durable consumer, or updates its settings when it exists (its position is kept). */
  async durableConsumer(stream: string, opts: DurableConsumerOptions): Promise<BusConsumer> {
    return wrapConsumer(
      await ensureDurable(this, stream, {
        durable_name: opts.name,
        filter_subject: opts.filter,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: opts.startAt === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
        ack_wait: nanos(opts.ackWaitMs),
        max_deliver: opts.maxDeliver,
        max_ack_pending: opts.maxAckPending,
      }),
      `consumer ${opts.name} on ${stream}`,
    );
  }

  /** Deletes a durable consumer; false when there was none. */
  async deleteConsumer(stream: string, name: string): Promise<boolean> {
    try {
      return await wrapped(`delete consumer ${name} on ${stream}`, () => this.c.jsm.consumers.delete(stream, name));
    } catch (e) {
      if (e instanceof BusError && e.reason === 'not-found') return false;
      throw e;
    }
  }

  // --- blobs (object store) ---------------------------------------------------------------

  async putBlob(name: string, data: Uint8Array): Promise<void> {
    await wrapped(`put blob ${name}`, async () => (await this.c.blobs(name)).putBlob({ name }, data));
  }

  /** The blob's bytes; undefined when there is none (deleted, or aged out). */
  async getBlob(name: string): Promise<Uint8Array | undefined> {
    return (await wrapped(`get blob ${name}`, async () => (await this.c.blobs(name)).getBlob(name))) ?? undefined;
  }

  /** The blob's size without reading it; undefined when there is none. */
  async blobSize(name: string): Promise<number | undefined> {
    const info = await wrapped(`info of blob ${name}`, async () => (await this.c.blobs(name)).info(name));
    return info && !info.deleted ? info.size : undefined;
  }

  /** Deletes a blob; false when there was none. */
  async deleteBlob(name: string): Promise<boolean> {
    try {
      const store = await this.c.blobs(name);
      // The store answers a delete of a missing blob as if it worked: ask first.
      const info = await store.info(name);
      if (!info || info.deleted) return false;
      await store.delete(name);
      return true;
    } catch (e) {
      const err = toBusError(e, `delete blob ${name}`);
      if (err.reason === 'not-found') return false;
      throw err;
    }
  }

  // --- the connection ---------------------------------------------------------------------

  isClosed(): boolean {
    return this.c.nc.isClosed();
  }

  /** Round trip to the server, ms. */
  rtt(): Promise<number> {
    return wrapped('rtt', () => this.c.nc.rtt());
  }

  /** The largest message the server accepts, bytes; undefined before it said. */
  get maxPayload(): number | undefined {
    return this.c.nc.info?.max_payload;
  }

  /** Disconnects and reconnects as they happen, until the connection closes. */
  async *connectionChanges(): AsyncIterable<ConnectionChange> {
    for await (const s of this.c.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') yield s.type;
    }
  }

  /** Resolves when the connection is closed (with the error that closed it, if any). */
  get closed(): Promise<void | Error> {
    return this.c.nc.closed();
  }

  /** Flushes what was published and closes. */
  async close(): Promise<void> {
    const nc = this.c.nc;
    if (nc.isClosed()) return;
    await nc.drain().catch(() => nc.close());
  }
}

function makeClients(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager): BusClients {
  const kvs = new Map<string, Promise<KV>>();
  const blobStores = new Map<string, Promise<ObjectStore>>();
  return {
    nc,
    js,
    jsm,
    kv: (bucket) => opened(kvs, bucket, () => new Kvm(js).open(bucket)),
    blobs: (name) => {
      const bucket = blobNames.storeOf(name);
      return opened(blobStores, bucket, () => new Objm(js).open(bucket));
    },
  };
}

/** One open handle per bucket, shared; a failed open is forgotten so the next call tries again. */
function opened<T>(cache: Map<string, Promise<T>>, bucket: string, open: () => Promise<T>): Promise<T> {
  let handle = cache.get(bucket);
  if (!handle) {
    handle = open();
    cache.set(bucket, handle);
    handle.catch(() => cache.delete(bucket));
  }
  return handle;
}

function toHeaders(values: HeaderValues): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(values)) h.set(k, v);
  return h;
}

function startConfig(at: StartAt): Partial<OrderedConsumerOptions> {
  if (at === 'all') return { deliver_policy: DeliverPolicy.All };
  if (at === 'new') return { deliver_policy: DeliverPolicy.New };
  if ('afterSeq' in at) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: at.afterSeq + 1 };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: at.since.toISOString() };
}

function toConsumerState(info: ConsumerInfo): ConsumerState {
  return {
    name: info.name,
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
    deliveredSeq: info.delivered.stream_seq,
    ackFloorSeq: info.ack_floor.stream_seq,
    maxDeliver: info.config.max_deliver ?? -1,
  };
}

/** Our consumer over a NATS one: errors become BusErrors; messages pass through (they fit ConsumedMsg). */
export function wrapConsumer(consumer: Consumer, what: string): BusConsumer {
  return {
    async consume(opts = {}): Promise<MessageFeed<ConsumedMsg>> {
      return wrapped(`consume from ${what}`, () =>
        consumer.consume({
          ...(opts.maxMessages !== undefined ? { max_messages: opts.maxMessages } : {}),
          ...(opts.abortOnMissing ? { abort_on_missing_resource: true } : {}),
        }),
      );
    },
    async fetch(opts): Promise<MessageFeed<ConsumedMsg>> {
      return wrapped(`fetch from ${what}`, () => consumer.fetch({ max_messages: opts.maxMessages, expires: opts.expiresMs }));
    },
    async info(): Promise<ConsumerState> {
      return toConsumerState(await wrapped(`info of ${what}`, () => consumer.info()));
    },
  };
}

/** Creates a durable consumer, or updates it when it exists with other settings. */
export async function ensureDurable(bus: Bus, stream: string, config: Parameters<JetStreamManager['consumers']['add']>[1]): Promise<Consumer> {
  const { js, jsm } = clientsOf(bus);
  const name = config.durable_name!;
  return wrapped(`durable consumer ${name} on ${stream}`, async () => {
    // As many replicas as its stream (NATS_REPLICAS, set by ensureTopology): a consumer on one
    // server of an R3 stream would lose its position with that server.
    const { config: streamConfig } = await jsm.streams.info(stream);
    const withReplicas = { ...config, num_replicas: streamConfig.num_replicas };
    try {
      await jsm.consumers.info(stream, name);
      const { durable_name: _d, filter_subject: _f, deliver_policy: _p, ...updatable } = withReplicas;
      await jsm.consumers.update(stream, name, updatable);
    } catch (e) {
      if (toBusError(e, '').reason !== 'not-found') throw e;
      await jsm.consumers.add(stream, withReplicas);
    }
    return js.consumers.get(stream, name);
  });
}
