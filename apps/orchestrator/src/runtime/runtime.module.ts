import { Inject, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { Env } from '@livemesh/contracts';
import type { ContainerRuntime } from '@livemesh/runtime';
import { CONTAINER_RUNTIME } from './runtime.tokens.js';

/**
 * Provides the ContainerRuntime chosen by LIVEMESH_RUNTIME, or the one handed in (tests, the
 * embedded mesh). The runtime is closed at shutdown only when this module created it: a runtime
 * handed in belongs to whoever made it.
 */
@Module({})
export class RuntimeModule implements OnApplicationShutdown {
  private static owned = new WeakSet<object>();

  constructor(@Inject(CONTAINER_RUNTIME) private readonly runtime: ContainerRuntime) {}

  static forRoot(runtime?: ContainerRuntime): DynamicModule {
    return {
      module: RuntimeModule,
      global: true,
      providers: [
        runtime
          ? { provide: CONTAINER_RUNTIME, useValue: runtime }
          : {
              provide: CONTAINER_RUNTIME,
              inject: [Env],
              useFactory: async (env: Env): Promise<ContainerRuntime> => {
                // Loaded only when no runtime is handed in, so an embedding (or a test) never loads dockerode.
                const { createRuntime } = await import('@livemesh/runtime');
                const created = createRuntime(env, { logger: new Logger('ContainerRuntime') });
                RuntimeModule.owned.add(created);
                return created;
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
