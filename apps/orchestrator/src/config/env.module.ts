import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ENV, type OrchestratorSettings } from '@livemesh/contracts';

/**
 * Makes the orchestrator's validated settings injectable (`@Inject(ENV)`) everywhere. It is global because every
 * feature reads configuration, as Nest's own ConfigModule({ isGlobal: true }) is; it exports
 * nothing else.
 */
@Global()
@Module({})
export class EnvModule {
  static forRoot(env: OrchestratorSettings): DynamicModule {
    return { module: EnvModule, providers: [{ provide: ENV, useValue: env }], exports: [ENV] };
  }
}
