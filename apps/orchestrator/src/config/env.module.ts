import { Global, Module, type DynamicModule } from '@nestjs/common';
import { Env } from '@livemesh/contracts';

/**
 * Makes the validated Env injectable (by its class) everywhere. It is global because every
 * feature reads configuration, as Nest's own ConfigModule({ isGlobal: true }) is; it exports
 * nothing else.
 */
@Global()
@Module({})
export class EnvModule {
  static forRoot(env: Env): DynamicModule {
    return { module: EnvModule, providers: [{ provide: Env, useValue: env }], exports: [Env] };
  }
}
