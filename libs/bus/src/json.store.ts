import type { KV, KvEntry } from '@nats-io/kv';
import type { BucketName } from '@livemesh/contracts';
import { clientsOf, type Bus } from './bus.connection.js';
import { toBusError, wrapped } from './bus.errors.js';

export interface JsonEntry<T> {
  key: string;
  value: T;
  revision: number;
}

/**
 * A KV bucket of JSON values. State that must survive a restart lives in one of these. Get one
 * with `bus.store(BUCKETS.x)`: the bucket decides the value type (contracts' BucketValues).
 * Every NATS error comes out as a BusError.
 */
export class JsonStore<T> {
  constructor(
    private readonly bus: Bus,
    readonly bucket: BucketName,
  ) {}

  private kv(): Promise<KV> {
    return clientsOf(this.bus).kv(this.bucket);
  }

  private run<R>(what: string, call: (kv: KV) => Promise<R>): Promise<R> {
    return wrapped(`${this.bucket}: ${what}`, async () => call(await this.kv()));
  }

  async get(key: string): Promise<JsonEntry<T> | undefined> {
    const e = await this.run(`get ${key}`, (kv) => kv.get(key));
    return e && e.operation === 'PUT' ? toEntry<T>(e) : undefined;
  }

  /** Writes and returns the new revision. */
  async put(key: string, value: T): Promise<number> {
    return this.run(`put ${key}`, (kv) => kv.put(key, JSON.stringify(value)));
  }

  /** Writes only if the key is absent (or deleted); undefined when another writer got there first. */
  async create(key: string, value: T): Promise<number | undefined> {
    try {
      return await (await this.kv()).create(key, JSON.stringify(value));
    } catch (e) {
      const err = toBusError(e, `${this.bucket}: create ${key}`);
      if (err.reason === 'conflict') return undefined;
      throw err;
    }
  }

  /** Compare-and-set on the revision read before; undefined when someone else wrote in between. */
  async update(key: string, value: T, revision: number): Promise<number | undefined> {
    try {
      return await (await this.kv()).update(key, JSON.stringify(value), revision);
    } catch (e) {
      const err = toBusError(e, `${this.bucket}: update ${key}`);
      if (err.reason === 'conflict') return undefined;
      throw err;
    }
  }

  /** The values the bucket still keeps for `key` (its history depth), oldest first; deletes left out. */
  async history(key: string): Promise<JsonEntry<T>[]> {
    const out: JsonEntry<T>[] = [];
    const it = await this.run(`history of ${key}`, (kv) => kv.history({ key }));
    for await (const e of it) {
      if (e.operation !== 'PUT') continue;
      try {
        out.push(toEntry<T>(e));
      } catch {
        // A value that is not JSON is not ours to interpret.
      }
    }
    return out;
  }

  /**
   * Removes `key` and its history only if it is still at `revision`; false when someone wrote in
   * between. One small purge marker stays, as with every KV delete.
   */
  async purgeAt(key: string, revision: number): Promise<boolean> {
    try {
      await (await this.kv()).purge(key, { previousSeq: revision });
      return true;
    } catch (e) {
      const err = toBusError(e, `${this.bucket}: purge ${key} at revision ${revision}`);
      if (err.reason === 'conflict') return false;
      throw err;
    }
  }

  /**
   * Removes the older revisions of `key` from the bucket's history, keeping the current one: after
   * a value that held a secret was rewritten without it, the old revision must not stay readable.
   */
  async dropHistory(key: string): Promise<void> {
    await wrapped(`${this.bucket}: drop the history of ${key}`, async () => {
      await clientsOf(this.bus).jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.${key}`, keep: 1 });
    });
  }

  /**
   * Removes every trace of `key`, its name included: no value, no history, and no delete or purge
   * marker (a marker's subject names the key, which matters when the name itself was a secret).
   * Watchers see nothing.
   */
  async erase(key: string): Promise<void> {
    await wrapped(`${this.bucket}: erase ${key}`, async () => {
      await clientsOf(this.bus).jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.${key}` });
    });
  }

  /** Every key the bucket holds anything for: values, history, delete and purge markers. */
  async keysInHistory(): Promise<string[]> {
    const prefix = `$KV.${this.bucket}.`;
    const info = await wrapped(`${this.bucket}: keys in history`, () => clientsOf(this.bus).jsm.streams.info(`KV_${this.bucket}`, { subjects_filter: `${prefix}>` }));
    return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
  }

  async delete(key: string): Promise<void> {
    await this.run(`delete ${key}`, (kv) => kv.delete(key));
  }

  async keys(filter = '>'): Promise<string[]> {
    const out: string[] = [];
    const it = await this.run(`keys ${filter}`, (kv) => kv.keys(filter));
    for await (const k of it) out.push(k);
    return out;
  }

  async list(filter = '>'): Promise<JsonEntry<T>[]> {
    const out: JsonEntry<T>[] = [];
    for (const k of await this.keys(filter)) {
      const e = await this.get(k);
      if (e) out.push(e);
    }
    return out;
  }

  /**
   * Calls `onChange` with the current value of each matching key, then with every change
   * (`undefined` for a delete), until the returned stop function is called.
   */
  async watch(key: string, onChange: (key: string, value: T | undefined, revision: number) => void): Promise<() => void> {
    const it = await this.run(`watch ${key}`, (kv) => kv.watch({ key }));
    void (async () => {
      for await (const e of it) {
        if (e.operation === 'PUT') {
          let value: T;
          try {
            value = e.json<T>();
          } catch {
            continue;
          }
          onChange(e.key, value, e.revision);
        } else onChange(e.key, undefined, e.revision);
      }
    })();
    return () => it.stop();
  }
}

function toEntry<T>(e: KvEntry): JsonEntry<T> {
  return { key: e.key, value: e.json<T>(), revision: e.revision };
}
