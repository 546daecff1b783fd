import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { BUCKETS, BusError } from '@livemesh/contracts';

export interface BusOptions {
  /** Comma-separated server URLs. */
  url: string;
  /** Connection name, shown by the server's monitoring (e.g. `worker:transcode:1234`). */
  name: string;
  /** Give up connecting after this long (ms); reconnects after a successful connect go on forever. */
  connectTimeoutMs?: number;
}

type BucketName = (typeof BUCKETS)[Exclude<keyof typeof BUCKETS, 'blobs'>];

/**
 * One NATS connection with its JetStream, KV and object-store handles. Everything on the bus goes
 * through it; callers never build their own clients.
 */
export class Bus {
  private readonly kvs = new Map<string, Promise<KV>>();
  private blobStore?: Promise<ObjectStore>;

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
  ) {}

  static async connect(opts: BusOptions): Promise<Bus> {
    const deadline = Date.now() + (opts.connectTimeoutMs ?? 30_000);
    let lastError: unknown;
    // A fresh machine starts nats-server beside us: retry until it listens, then let the client reconnect forever.
    while (Date.now() < deadline) {
      try {
        const nc = await connect({
          servers: opts.url.split(',').map((s) => s.trim()),
          name: opts.name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          timeout: 5_000,
        });
        const jsm = await jetstreamManager(nc, { timeout: 10_000 });
        return new Bus(nc, jetstream(nc, { timeout: 10_000 }), jsm);
      } catch (e) {
        lastError = e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    throw new BusError(`cannot connect to NATS at ${opts.url}`, { cause: lastError });
  }

  /** A KV bucket (created by ensureTopology). */
  kv(bucket: BucketName): Promise<KV> {
    let kv = this.kvs.get(bucket);
    if (!kv) {
      kv = new Kvm(this.js).open(bucket);
      this.kvs.set(bucket, kv);
      kv.catch(() => this.kvs.delete(bucket));
    }
    return kv;
  }

  /** The object store for claim-checked segments and thumbnails. */
  blobs(): Promise<ObjectStore> {
    if (!this.blobStore) {
      this.blobStore = new Objm(this.js).open(BUCKETS.blobs);
      this.blobStore.catch(() => (this.blobStore = undefined));
    }
    return this.blobStore;
  }

  get closed(): Promise<void | Error> {
    return this.nc.closed();
  }

  /** Flushes what was published and closes. */
  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.drain().catch(() => this.nc.close());
  }
}
