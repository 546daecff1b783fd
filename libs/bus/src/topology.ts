import { nanos } from '@nats-io/transport-node';
import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { BUCKETS, BusError, STREAMS, subjects, type BucketName, type Env } from '@livemesh/contracts';
import { clientsOf, type Bus } from './bus.connection.js';
import { isNotFound, toBusError, wrapped } from './bus.errors.js';
import { isRetryablePublishError } from './client.options.js';

export interface TopologyOptions {
  /** How long finished segments stay on `lm.out.>` (the time-shift window), seconds. */
  outputRetentionSeconds: number;
  /** Window in which a second publish with the same Nats-Msg-Id is dropped, seconds. */
  duplicateWindowSeconds?: number;
  /** Age after which LM_SEG drops a segment nobody took (it can no longer be live), seconds. */
  segmentMaxAgeSeconds?: number;
  /** Segments LM_SEG keeps per subject, i.e. per stream and hop; the next publish is refused. */
  segmentsPerStream?: number;
  /** LM_SEG's byte limit (every stream together). */
  segmentStoreBytes?: number;
  /** The object store's byte limit (claim-checked segments and thumbnails). */
  blobStoreBytes?: number;
  /** Age after which a blob is removed, seconds; never below the segment and output ages it must outlive. */
  blobTtlSeconds?: number;
  /**
   * Replicas of every stream, bucket and object store (NATS_REPLICAS): 1 on one server, 3 on a
   * cluster. Durable consumers follow their stream's count (ensureDurable).
   */
  replicas?: number;
  /** LM_SEG's storage (SEGMENT_STORAGE); other streams are on file. */
  segmentStorage?: 'file' | 'memory';
}

/** The defaults, chosen to fit a 2-core machine's disk and still serve a cluster (docs/design.md, "Limits"). */
export const TOPOLOGY_DEFAULTS = {
  duplicateWindowSeconds: 120,
  segmentMaxAgeSeconds: 600,
  segmentsPerStream: 600,
  segmentStoreBytes: 4 * 1024 ** 3,
  blobStoreBytes: 2 * 1024 ** 3,
  blobTtlSeconds: 3600,
  replicas: 1,
  segmentStorage: 'file',
} as const;

/** The topology an Env asks for (the variables operators tune; see docs/configuration.md). */
export function topologyFromEnv(
  env: Pick<Env, 'OUTPUT_RETENTION_SECONDS' | 'SEGMENT_MAX_AGE_SECONDS' | 'SEGMENTS_PER_STREAM' | 'SEGMENT_STORE_BYTES' | 'BLOB_STORE_BYTES' | 'BLOB_TTL_SECONDS' | 'NATS_REPLICAS' | 'SEGMENT_STORAGE'>,
): TopologyOptions {
  return {
    outputRetentionSeconds: env.OUTPUT_RETENTION_SECONDS,
    segmentMaxAgeSeconds: env.SEGMENT_MAX_AGE_SECONDS,
    segmentsPerStream: env.SEGMENTS_PER_STREAM,
    segmentStoreBytes: env.SEGMENT_STORE_BYTES,
    blobStoreBytes: env.BLOB_STORE_BYTES,
    blobTtlSeconds: env.BLOB_TTL_SECONDS,
    replicas: env.NATS_REPLICAS,
    segmentStorage: env.SEGMENT_STORAGE,
  };
}

const MiB = 1024 ** 2;
/** How long LM_KEYS keeps an issued key for the platform to read. */
export const KEY_ISSUE_MAX_AGE_MS = 15 * 60_000;
const GiB = 1024 ** 3;
/** LM_OUT's byte limit, and the output blob store's. */
const OUTPUT_STORE_BYTES = 8 * GiB;

/** Small JSON state: a few KiB per stream or service, kept with a short history. */
const KV_LIMITS: Record<BucketName | typeof BUCKETS.carry, { history: number; maxBytes: number; ttlMs?: number; memory?: boolean }> = {
  [BUCKETS.chains]: { history: 5, maxBytes: 256 * MiB },
  [BUCKETS.streams]: { history: 5, maxBytes: 256 * MiB },
  [BUCKETS.ingest]: { history: 5, maxBytes: 64 * MiB },
  [BUCKETS.keys]: { history: 5, maxBytes: 16 * MiB },
  [BUCKETS.catalogue]: { history: 5, maxBytes: 64 * MiB },
  // API tokens: a few hundred bytes each, at most MAX_API_TOKENS of them (the orchestrator's cap).
  [BUCKETS.tokens]: { history: 1, maxBytes: 16 * MiB },
  // Per-stream reports of the data plane (latency, SRT port): only the latest value matters.
  [BUCKETS.status]: { history: 1, maxBytes: 64 * MiB },
  // What a segment leaves for the next one at the same hop: one small value per stream and hop,
  // read within seconds; the byte bound only matters if stages leave far more than they should.
  [BUCKETS.carry]: { history: 1, maxBytes: 512 * MiB, ttlMs: 10 * 60_000 },
  // Delivery's checkpoints: one value per stream (its window and time-shift index without bytes,
  // tens of KiB) and a position, overwritten every few seconds; a stream's key goes when delivery
  // forgets it, and the TTL clears what a replica that never came back left behind.
  [BUCKETS.delivery]: { history: 1, maxBytes: 256 * MiB, ttlMs: 24 * 3_600_000 },
  // Heartbeats expire on their own: a worker that stops writing disappears from the bucket.
  [BUCKETS.workers]: { history: 1, maxBytes: 16 * MiB, ttlMs: 15_000, memory: true },
};

/**
 * Creates (or updates) every stream, bucket and store livemesh uses, each with explicit limits
 * (the table in docs/design.md). Idempotent: the orchestrator calls it at boot (it owns the
 * topology; other components wait for it with waitForTopology), and a later boot brings older
 * limits up to date.
 */
export async function ensureTopology(bus: Bus, opts: TopologyOptions): Promise<void> {
  const o = { ...TOPOLOGY_DEFAULTS, ...definedOnly(opts) };
  const { js } = clientsOf(bus);
  for (const cfg of topologyStreams(opts)) await ensureStream(bus, cfg);

  const replicas = o.replicas;
  const kvm = new Kvm(js);
  for (const [bucket, l] of Object.entries(KV_LIMITS)) {
    await wrapped(`create bucket ${bucket}`, () =>
      kvm.create(bucket, {
        history: l.history,
        storage: l.memory ? StorageType.Memory : StorageType.File,
        max_bytes: l.maxBytes,
        replicas,
        ...(l.ttlMs ? { ttl: l.ttlMs } : {}),
      }),
    );
    // Kvm.create leaves an existing bucket as it is: bring a bucket made before the limits (or
    // with another replica count) up to them.
    await updateLimits(bus, `KV_${bucket}`, { max_bytes: l.maxBytes, max_age: l.ttlMs ? nanos(l.ttlMs) : 0, num_replicas: replicas });
  }

  // Claim-checked segments live as long as a hop or the time-shift window may still read them;
  // thumbnails are replaced every few seconds while a stream is live, so the TTL bounds only the
  // last one of an ended stream.
  const blobTtl = nanos(Math.max(o.blobTtlSeconds, o.segmentMaxAgeSeconds, opts.outputRetentionSeconds) * 1000);
  await wrapped(`create object store ${BUCKETS.blobs}`, () =>
    new Objm(js).create(BUCKETS.blobs, { storage: StorageType.File, ttl: blobTtl, max_bytes: o.blobStoreBytes, replicas }),
  );
  await updateLimits(bus, `OBJ_${BUCKETS.blobs}`, { max_bytes: o.blobStoreBytes, max_age: blobTtl, num_replicas: replicas });

  // Claim-checked output segments go with the LM_OUT message that names them: the blob is stored
  // just before its message, so the same age (plus a little, so a reader of a message in its last
  // moments still finds the blob) removes both. The byte limit matches LM_OUT's.
  const outputBlobTtl = nanos(outputBlobTtlSeconds(opts.outputRetentionSeconds) * 1000);
  await wrapped(`create object store ${BUCKETS.outputBlobs}`, () =>
    new Objm(js).create(BUCKETS.outputBlobs, { storage: StorageType.File, ttl: outputBlobTtl, max_bytes: OUTPUT_STORE_BYTES, replicas }),
  );
  await updateLimits(bus, `OBJ_${BUCKETS.outputBlobs}`, { max_bytes: OUTPUT_STORE_BYTES, max_age: outputBlobTtl, num_replicas: replicas });
}

/** The streams of the topology (not the KV and object-store streams), each with the replicas asked for. */
export function topologyStreams(opts: TopologyOptions): (Partial<StreamConfig> & { name: string })[] {
  const o = { ...TOPOLOGY_DEFAULTS, ...definedOnly(opts) };
  const dupSeconds = o.duplicateWindowSeconds;
  const streams: (Partial<StreamConfig> & { name: string })[] = [
    {
      name: STREAMS.segments,
      subjects: [subjects.allSegments],
      // A stored segment is somebody's work: it leaves the stream when the hop acks it.
      retention: RetentionPolicy.Workqueue,
      storage: o.segmentStorage === 'memory' ? StorageType.Memory : StorageType.File,
      // A segment nobody took in this long can no longer be live: the stream's viewers moved on.
      max_age: nanos(o.segmentMaxAgeSeconds * 1000),
      duplicate_window: nanos(Math.min(dupSeconds, o.segmentMaxAgeSeconds) * 1000),
      max_bytes: o.segmentStoreBytes,
      // The subject is lm.seg.<service>.<streamId>.<hop>: one stream and hop that stops moving
      // fills its own subject, and its publishes are refused, while every other stream goes on.
      max_msgs_per_subject: o.segmentsPerStream,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
    },
    {
      name: STREAMS.output,
      subjects: [subjects.allOutput],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(opts.outputRetentionSeconds * 1000),
      // The server refuses a duplicate window longer than the stream's max age.
      duplicate_window: nanos(Math.min(dupSeconds, opts.outputRetentionSeconds) * 1000),
      max_bytes: OUTPUT_STORE_BYTES,
    },
    {
      name: STREAMS.events,
      subjects: [subjects.allEvents],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(24 * 3600 * 1000),
      duplicate_window: nanos(dupSeconds * 1000),
      max_bytes: 1 * GiB,
    },
    {
      name: STREAMS.deadLetter,
      subjects: [subjects.allDeadLetter],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(7 * 24 * 3600 * 1000),
      max_bytes: 2 * GiB,
    },
    {
      // The server's max-deliveries advisories of LM_SEG's consumers, kept until the orchestrator
      // has dead-lettered the segment each names (work queue: acked is gone). An advisory older
      // than LM_SEG's age limit names a segment the server has dropped already; one is ~400
      // bytes, so 100,000 of them (every segment of 30 streams crashing for 10 minutes) fit.
      name: STREAMS.segmentFaults,
      subjects: [subjects.maxDeliveriesAdvisory(STREAMS.segments)],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_age: nanos(o.segmentMaxAgeSeconds * 1000),
      max_msgs: 100_000,
      max_bytes: 64 * MiB,
      // When full, the oldest advisories go: their segments have aged out of LM_SEG by then.
      discard: DiscardPolicy.Old,
    },
    {
      // Generated publish keys of streams a platform event started, for the platform to read
      // (docs/api.md, "Platform events"). Plaintext secrets: in memory only (never on the
      // server's disk), the latest per stream (an older key is invalid anyway), gone after
      // KEY_ISSUE_MAX_AGE_MS. Not under lm.evt.>, which many components read.
      name: STREAMS.keys,
      subjects: [subjects.allKeys],
      retention: RetentionPolicy.Limits,
      storage: StorageType.Memory,
      max_age: nanos(KEY_ISSUE_MAX_AGE_MS),
      max_msgs_per_subject: 1,
      max_msgs: 10_000,
      max_bytes: 8 * MiB,
      discard: DiscardPolicy.Old,
    },
  ];
  return streams.map((cfg) => ({ ...cfg, num_replicas: o.replicas }));
}

/**
 * How long a claim-checked output blob lives: its message's retention plus a tenth of it (at most
 * a minute), so the blob outlives its message by seconds, never by the old hour-long blob TTL.
 */
export function outputBlobTtlSeconds(outputRetentionSeconds: number): number {
  return outputRetentionSeconds + Math.min(60, Math.ceil(outputRetentionSeconds / 10));
}

async function ensureStream(bus: Bus, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  const { jsm } = clientsOf(bus);
  await wrapped(`set up stream ${cfg.name}`, async () => {
    try {
      await jsm.streams.info(cfg.name);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await jsm.streams.add(cfg);
      return;
    }
    // The server cannot change a stream's storage: an existing stream keeps its own (the update
    // merges onto the current config; docs/scaling.md).
    const { storage: _storage, ...updatable } = cfg;
    await jsm.streams.update(cfg.name, updatable);
  });
}

async function updateLimits(bus: Bus, stream: string, limits: { max_bytes: number; max_age: number; num_replicas: number }): Promise<void> {
  const { jsm } = clientsOf(bus);
  await wrapped(`set the limits of ${stream}`, async () => {
    const { config } = await jsm.streams.info(stream);
    if (config.max_bytes === limits.max_bytes && config.max_age === limits.max_age && config.num_replicas === limits.num_replicas) return;
    await jsm.streams.update(stream, { ...config, ...limits });
  });
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}


/** The stores a component opens, for waitForTopology. */
export type TopologyStore = BucketName | typeof BUCKETS.carry | typeof BUCKETS.blobs | typeof BUCKETS.outputBlobs;

/**
 * Waits until the orchestrator has created the KV buckets and object stores `stores` (it owns
 * the topology: other components only bind to it, and their credentials cannot create any).
 * Throws a BusError naming what is missing after `timeoutMs`.
 */
export async function waitForTopology(bus: Bus, stores: readonly TopologyStore[], timeoutMs = 60_000): Promise<void> {
  const { js } = clientsOf(bus);
  const deadline = Date.now() + timeoutMs;
  for (const store of stores) {
    const isObj = store === BUCKETS.blobs || store === BUCKETS.outputBlobs;
    for (;;) {
      try {
        if (isObj) await new Objm(js).open(store);
        else await new Kvm(js).open(store);
        break;
      } catch (e) {
        // Not there yet, or (a cluster still placing the orchestrator's streams, an election) not
        // answering yet: both are waited out until the deadline.
        const waiting = isNotFound(e) || /not found/i.test(String((e as Error)?.message)) || isRetryablePublishError(e);
        if (!waiting) throw toBusError(e, `open ${store}`);
        if (Date.now() > deadline) throw new BusError(`${isObj ? 'object store' : 'bucket'} ${store} does not exist after ${timeoutMs} ms: the orchestrator creates it (is it running on this NATS?)`, { cause: e });
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
}
