import { ensureServiceConsumer, type Bus } from '@livemesh/bus';
import type { ServiceSpec, Env } from '@livemesh/contracts';
import type { ContainerRuntime, ServiceInstance, StartInstruction } from '@livemesh/runtime';

/**
 * The orchestrator owns the topology: before a service's workers start, it creates (or updates)
 * the service's durable consumer on LM_SEG, which the workers' credentials may only pull from.
 * Wraps whichever runtime is in use, so every path that starts workers goes through here.
 */
export class ConsumerOwningRuntime implements ContainerRuntime {
  constructor(
    readonly inner: ContainerRuntime,
    private readonly bus: Bus,
    private readonly env: Pick<Env, 'STAGE_ACK_WAIT_MS' | 'STAGE_MAX_ATTEMPTS'>,
  ) {}

  get kind(): ContainerRuntime['kind'] {
    return this.inner.kind;
  }

  private async consumerOf(service: string): Promise<void> {
    await ensureServiceConsumer(this.bus, service, { ackWaitMs: this.env.STAGE_ACK_WAIT_MS, maxDeliver: this.env.STAGE_MAX_ATTEMPTS });
  }

  async ensure(instr: StartInstruction): Promise<{ instance: ServiceInstance; reused: boolean }> {
    await this.consumerOf(instr.service.name);
    return this.inner.ensure(instr);
  }

  async scale(service: ServiceSpec, replicas: number): Promise<ServiceInstance[]> {
    if (replicas > 0) await this.consumerOf(service.name);
    return this.inner.scale(service, replicas);
  }

  list(service?: string): Promise<ServiceInstance[]> {
    return this.inner.list(service);
  }

  release(service: string): Promise<void> {
    return this.inner.release(service);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async scaledExternally(service: ServiceSpec): Promise<string | undefined> {
    return this.inner.scaledExternally?.(service);
  }
}
