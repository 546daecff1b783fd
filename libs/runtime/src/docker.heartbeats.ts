import { BUCKETS, type WorkerHeartbeat } from '@livemesh/contracts';
import { Bus, JsonStore } from '@livemesh/bus';

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

  constructor(private readonly natsUrl: string) {}

  async list(): Promise<WorkerHeartbeat[]> {
    this.bus ??= Bus.connect({ url: this.natsUrl, name: 'runtime:heartbeats', connectTimeoutMs: 5_000 });
    let bus: Bus;
    try {
      bus = await this.bus;
    } catch (e) {
      this.bus = undefined;
      throw e;
    }
    return (await new JsonStore<WorkerHeartbeat>(bus, BUCKETS.workers).list()).map((e) => e.value);
  }

  async close(): Promise<void> {
    const bus = await this.bus?.catch(() => undefined);
    this.bus = undefined;
    await bus?.close();
  }
}
