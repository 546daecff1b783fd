import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { BUCKETS, type WorkerHeartbeat } from '@livemesh/contracts';
import { JsonStore, type Bus } from '@livemesh/bus';

/** A worker id that is a valid KV key token: host, pid and a few random characters (pids repeat across containers). */
export function makeWorkerId(): string {
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'host';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * Writes a WorkerHeartbeat to `lm_workers` (key `<service>.<workerId>`) every few seconds. The
 * bucket has a TTL, so a worker that dies simply disappears; one that stops cleanly deletes its key.
 */
export class WorkerHeartbeatWriter {
  private readonly logger = new Logger(WorkerHeartbeatWriter.name);
  private readonly store: JsonStore<WorkerHeartbeat>;
  private readonly startedAt = new Date().toISOString();
  private timer?: NodeJS.Timeout;
  private failing = false;

  constructor(
    bus: Bus,
    private readonly service: string,
    private readonly workerId: string,
    private readonly counters: () => Pick<WorkerHeartbeat, 'processed' | 'failed' | 'inFlight' | 'msPerSegment'>,
    private readonly intervalMs = 5_000,
  ) {
    this.store = bus.store(BUCKETS.workers);
  }

  get key(): string {
    return `${this.service}.${this.workerId}`;
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.store.delete(this.key).catch(() => undefined);
  }

  private async beat(): Promise<void> {
    const hb: WorkerHeartbeat = {
      service: this.service,
      workerId: this.workerId,
      pid: process.pid,
      host: hostname(),
      startedAt: this.startedAt,
      at: new Date().toISOString(),
      ...this.counters(),
    };
    try {
      await this.store.put(this.key, hb);
      if (this.failing) this.logger.log(`service=${this.service} worker=${this.workerId} heartbeat restored`);
      this.failing = false;
    } catch (e) {
      // A missed beat only makes the worker look gone for a while; log the first miss, not every one.
      if (!this.failing) this.logger.warn(`service=${this.service} worker=${this.workerId} heartbeat failed: ${(e as Error).message}`);
      this.failing = true;
    }
  }
}
