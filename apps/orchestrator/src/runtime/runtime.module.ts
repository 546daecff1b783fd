import { Inject, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { join, resolve } from 'node:path';
import { Bus, NatsCredentialMinter, readAccountSigner } from '@livemesh/bus';
import { ENV, type OrchestratorSettings } from '@livemesh/contracts';
import type { ContainerRuntime } from '@livemesh/runtime';
import { BusModule } from '../bus/bus.module.js';
import { ConsumerOwningRuntime } from './consumer-owning.runtime.js';
import { CONTAINER_RUNTIME } from './runtime.tokens.js';

/**
 * Provides the ContainerRuntime chosen by LIVEMESH_RUNTIME, or the one handed in (tests, the
 * embedded mesh), wrapped so that a service's durable consumer exists before its workers start.
 * The runtime is closed at shutdown only when this module created it: a runtime handed in
 * belongs to whoever made it. With NATS_ACCOUNT_SIGNER set, each worker the runtime starts gets
 * a NATS credential of its own, minted here.
 */
@Module({})
export class RuntimeModule implements OnApplicationShutdown {
  private static owned = new WeakSet<object>();

  constructor(@Inject(CONTAINER_RUNTIME) private readonly runtime: ContainerRuntime) {}

  static forRoot(runtime?: ContainerRuntime): DynamicModule {
    return {
      module: RuntimeModule,
      global: true,
      imports: [BusModule],
      providers: [
        {
          provide: CONTAINER_RUNTIME,
          inject: [ENV, Bus],
          useFactory: async (env: OrchestratorSettings, bus: Bus): Promise<ContainerRuntime> => {
            if (runtime) return new ConsumerOwningRuntime(runtime, bus, env);
            // Loaded only when no runtime is handed in, so an embedding (or a test) never loads dockerode.
            const { createRuntime } = await import('@livemesh/runtime');
            const signer = env.NATS_ACCOUNT_SIGNER ? await readAccountSigner(env.NATS_ACCOUNT_SIGNER) : undefined;
            const minter = signer ? new NatsCredentialMinter(signer, join(resolve(env.LIVEMESH_DATA_DIR), 'nats', 'creds')) : undefined;
            const created = createRuntime(env, {
              logger: new Logger('ContainerRuntime'),
              ...(minter
                ? {
                    workerCredentials: (service: string, workerId: string) => minter.credsFile({ role: 'worker', service, workerId }),
                    // Swarm and k8s: one credential for all tasks of a service, heartbeats limited to that service.
                    serviceCredentials: (service: string) => minter.credsFile({ role: 'worker', service }),
                  }
                : {}),
              ...(signer ? { natsAccount: signer.account } : {}),
            });
            const wrapped = new ConsumerOwningRuntime(created, bus, env);
            RuntimeModule.owned.add(wrapped);
            return wrapped;
          },
        },
      ],
      exports: [CONTAINER_RUNTIME],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    if (RuntimeModule.owned.has(this.runtime)) await this.runtime.close();
  }
}
