import { nanos } from '@nats-io/transport-node';
import {
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { BUCKETS, STREAMS, subjects } from '@livemesh/contracts';
import type { Bus } from './bus.connection.js';

export interface TopologyOptions {
  /** How long finished segments stay on `lm.out.>` (the time-shift window), seconds. */
  outputRetentionSeconds: number;
  /** Window in which a second publish with the same Nats-Msg-Id is dropped, seconds. */
  duplicateWindowSeconds?: number;
}

/**
 * Creates (or updates) every stream, bucket and store livemesh uses. Idempotent: every process
 * calls it at boot, so whichever starts first on an empty server sets the bus up.
 */
export async function ensureTopology(bus: Bus, opts: TopologyOptions): Promise<void> {
  const dup = nanos((opts.duplicateWindowSeconds ?? 120) * 1000);
  const streams: (Partial<StreamConfig> & { name: string })[] = [
    {
      name: STREAMS.segments,
      subjects: [subjects.allSegments],
      // A stored segment is somebody's work: it leaves the stream when the hop acks it.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: dup,
      max_bytes: 4 * 1024 ** 3,
      discard: DiscardPolicy.New,
    },
    {
      name: STREAMS.output,
      subjects: [subjects.allOutput],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(opts.outputRetentionSeconds * 1000),
      // The server refuses a duplicate window longer than the stream's max age.
      duplicate_window: nanos(Math.min(opts.duplicateWindowSeconds ?? 120, opts.outputRetentionSeconds) * 1000),
      max_bytes: 8 * 1024 ** 3,
    },
    {
      name: STREAMS.events,
      subjects: [subjects.allEvents],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(24 * 3600 * 1000),
      duplicate_window: dup,
    },
    {
      name: STREAMS.deadLetter,
      subjects: [subjects.allDeadLetter],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(7 * 24 * 3600 * 1000),
      max_bytes: 2 * 1024 ** 3,
    },
  ];
  for (const cfg of streams) {
    try {
      await bus.jsm.streams.info(cfg.name);
      await bus.jsm.streams.update(cfg.name, cfg);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await bus.jsm.streams.add(cfg);
    }
  }
  const kvm = new Kvm(bus.js);
  for (const bucket of [BUCKETS.chains, BUCKETS.streams, BUCKETS.ingest, BUCKETS.keys, BUCKETS.catalogue]) {
    await kvm.create(bucket, { history: 5, storage: StorageType.File });
  }
  // Per-stream reports of the data plane (latency, SRT port): only the latest value matters.
  await kvm.create(BUCKETS.status, { history: 1, storage: StorageType.File });
  // What a segment leaves for the next one at the same hop: one small value per stream and hop,
  // read within seconds; the byte bound only matters if stages leave far more than they should.
  await kvm.create(BUCKETS.carry, { history: 1, storage: StorageType.File, ttl: 10 * 60_000, max_bytes: 512 * 1024 ** 2 });
  // Heartbeats expire on their own: a worker that stops writing disappears from the bucket.
  await kvm.create(BUCKETS.workers, { history: 1, storage: StorageType.Memory, ttl: 15_000 });
  // Claim-checked segments live only as long as a hop may take; thumbnails are kept for a day.
  await new Objm(bus.js).create(BUCKETS.blobs, { storage: StorageType.File, ttl: nanos(24 * 3600 * 1000) });
}

export function isNotFound(e: unknown): boolean {
  const err = e as { code?: unknown; message?: string; api_error?: { err_code?: number } };
  return (
    err?.api_error?.err_code === 10059 ||
    err?.api_error?.err_code === 10014 ||
    /not found/i.test(err?.message ?? '')
  );
}
