import type { KV } from '@nats-io/kv';
import { BUCKETS, BusError } from '@livemesh/contracts';
import { clientsOf, type Bus } from './bus.connection.js';
import { toBusError, wrapped } from './bus.errors.js';

/** What one segment's work leaves for the next segment at the same hop: a JSON object and bytes. */
export interface Carry {
  meta: Record<string, unknown>;
  data: Uint8Array;
}

/** Largest carry accepted: it is read on every segment, so it is meant for a few frames, not a segment. */
export const MAX_CARRY_BYTES = 256 * 1024;

/** A value of the bucket, with the revision to compare against when replacing it. */
export type CarryEntry = { revision: number } & ({ carry: Carry } | { unreadable: string });

/**
 * The `lm_carry` bucket. A value is a 4-byte big-endian length, that many bytes of JSON (`meta`),
 * then `data`. Every replica of a service reads it, so a segment that lands on another replica
 * than its predecessor still finds what the predecessor left. Writes are compare-and-set, so a
 * caller can refuse to replace a newer value with an older one.
 */
export class CarryStore {
  constructor(private readonly bus: Bus) {}

  private kv(): Promise<KV> {
    return clientsOf(this.bus).kv(BUCKETS.carry);
  }

  /** The value under `key`; undefined when there is none; `unreadable` (why) when this store did not write it. */
  async get(key: string): Promise<CarryEntry | undefined> {
    const e = await wrapped(`carry: get ${key}`, async () => (await this.kv()).get(key));
    if (!e || e.operation !== 'PUT') return undefined;
    try {
      return { revision: e.revision, carry: decodeCarry(key, e.value) };
    } catch (err) {
      return { revision: e.revision, unreadable: (err as Error).message };
    }
  }

  /**
   * Writes `carry` if the key is still at `revision` (undefined: if there is no value yet).
   * False when another writer got there first: read again and decide.
   */
  async put(key: string, carry: Carry, revision: number | undefined): Promise<boolean> {
    const json = new TextEncoder().encode(JSON.stringify(carry.meta));
    const value = new Uint8Array(4 + json.length + carry.data.length);
    new DataView(value.buffer).setUint32(0, json.length);
    value.set(json, 4);
    value.set(carry.data, 4 + json.length);
    if (value.length > MAX_CARRY_BYTES) throw new BusError(`carry ${key} is ${value.length} bytes; the limit is ${MAX_CARRY_BYTES}`);
    try {
      const kv = await this.kv();
      if (revision === undefined) await kv.create(key, value);
      else await kv.update(key, value, revision);
      return true;
    } catch (e) {
      const err = toBusError(e, `carry: put ${key}`);
      if (err.reason === 'conflict') return false;
      throw err;
    }
  }
}

export function decodeCarry(key: string, value: Uint8Array): Carry {
  const bad = (why: string) => new BusError(`carry ${key} is unreadable: ${why}`);
  if (value.length < 4) throw bad(`${value.length} bytes`);
  const jsonLength = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
  if (4 + jsonLength > value.length) throw bad(`its JSON length ${jsonLength} runs past its ${value.length} bytes`);
  let meta: unknown;
  try {
    meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(value.subarray(4, 4 + jsonLength)));
  } catch (e) {
    throw bad(`meta is not JSON (${(e as Error).message})`);
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw bad('meta is not a JSON object');
  return { meta: meta as Record<string, unknown>, data: value.subarray(4 + jsonLength) };
}
