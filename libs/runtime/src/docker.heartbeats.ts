import { BUCKETS, type WorkerHeartbeat } from '@livemesh/contracts';
import { Bus, type BusOptions } from '@livemesh/bus';
import type { RuntimeLogger } from './runtime.types.js';

/** Where a container runtime reads workers' heartbeats from. */
export interface HeartbeatSource {
  list(): Promise<WorkerHeartbeat[]>;
  close(): Promise<void>;
}

/**
 * Reads `lm_workers` over a connection of its own, opened on first use: the runtime is created
 * before the orchestrator's bus, and one more client connection is cheaper than threading it through.
 */
export class BusHeartbeatSource implements HeartbeatSource {
  private bus?: Promise<Bus>;

  constructor(
    private readonly natsUrl: string,
    private readonly auth: Pick<BusOptions, 'credsFile' | 'tlsCaFile'> = {},
  ) {}

  async list(): Promise<WorkerHeartbeat[]> {
    this.bus ??= Bus.connect({ url: this.natsUrl, name: 'runtime:heartbeats', connectTimeoutMs: 5_000, ...this.auth });
    let bus: Bus;
    try {
      bus = await this.bus;
    } catch (e) {
      this.bus = undefined;
      throw e;
    }
    return (await bus.store(BUCKETS.workers).list()).map((e) => e.value);
  }

  async close(): Promise<void> {
    const bus = await this.bus?.catch(() => undefined);
    this.bus = undefined;
    await bus?.close();
  }
}

/**
 * Heartbeats by the worker's host name (the container's) and by its id, the freshest per key;
 * undefined when they cannot be read, which says nothing about the workers.
 */
export async function heartbeatAges(source: HeartbeatSource | undefined, logger: RuntimeLogger): Promise<Map<string, { ageMs: number; processed: number }> | undefined> {
  if (!source) return undefined;
  const out = new Map<string, { ageMs: number; processed: number }>();
  try {
    for (const hb of await source.list()) {
      const v = { ageMs: Date.now() - Date.parse(hb.at), processed: hb.processed };
      for (const key of [hb.host, hb.workerId]) {
        const prev = out.get(key);
        if (!prev || prev.ageMs > v.ageMs) out.set(key, v);
      }
    }
  } catch (e) {
    logger.warn(`heartbeats unavailable: ${(e as Error).message}`);
    return undefined;
  }
  return out;
}
