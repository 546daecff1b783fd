import type { KV, KvEntry } from '@nats-io/kv';
import type { Bus } from './bus.connection.js';
import type { BUCKETS } from '@livemesh/contracts';

type BucketName = (typeof BUCKETS)[Exclude<keyof typeof BUCKETS, 'blobs'>];

export interface JsonEntry<T> {
  key: string;
  value: T;
  revision: number;
}

/** A KV bucket of JSON values. State that must survive a restart lives in one of these. */
export class JsonStore<T> {
  constructor(
    private readonly bus: Bus,
    readonly bucket: BucketName,
  ) {}

  private kv(): Promise<KV> {
    return this.bus.kv(this.bucket);
  }

  async get(key: string): Promise<JsonEntry<T> | undefined> {
    const e = await (await this.kv()).get(key);
    return e && e.operation === 'PUT' ? toEntry<T>(e) : undefined;
  }

  /** Writes and returns the new revision. */
  async put(key: string, value: T): Promise<number> {
    return (await this.kv()).put(key, JSON.stringify(value));
  }

  /** Writes only if the key is absent (or deleted); undefined when another writer got there first. */
  async create(key: string, value: T): Promise<number | undefined> {
    try {
      return await (await this.kv()).create(key, JSON.stringify(value));
    } catch (e) {
      if (/wrong last sequence|exists/i.test((e as Error).message)) return undefined;
      throw e;
    }
  }

  /** Compare-and-set on the revision read before; undefined when someone else wrote in between. */
  async update(key: string, value: T, revision: number): Promise<number | undefined> {
    try {
      return await (await this.kv()).update(key, JSON.stringify(value), revision);
    } catch (e) {
      if (/wrong last sequence/i.test((e as Error).message)) return undefined;
      throw e;
    }
  }

  /** The values the bucket still keeps for `key` (its history depth), oldest first; deletes left out. */
  async history(key: string): Promise<JsonEntry<T>[]> {
    const out: JsonEntry<T>[] = [];
    const it = await (await this.kv()).history({ key });
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

  async delete(key: string): Promise<void> {
    await (await this.kv()).delete(key);
  }

  async keys(filter = '>'): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await (await this.kv()).keys(filter)) out.push(k);
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
    const it = await (await this.kv()).watch({ key });
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
