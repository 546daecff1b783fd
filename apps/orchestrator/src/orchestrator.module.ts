import { Module, type DynamicModule } from '@nestjs/common';
import type { OrchestratorSettings } from '@livemesh/contracts';
import type { ContainerRuntime } from '@livemesh/runtime';
import { AuthModule } from './auth/auth.module.js';
import { AutoscaleModule } from './autoscale/autoscale.module.js';
import { BusModule } from './bus/bus.module.js';
import { CatalogueModule } from './catalogue/catalogue.module.js';
import { ConsoleModule } from './console/console.module.js';
import { EnvModule } from './config/env.module.js';
import { FaultsModule } from './faults/segment-faults.module.js';
import { HealthModule } from './health/health.module.js';
import { HlsModule } from './hls/hls.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { PlatformEventsModule } from './platform/platform-events.module.js';
import { RuntimeModule } from './runtime/runtime.module.js';
import { StreamsModule } from './streams/streams.module.js';

@Module({})
export class OrchestratorModule {
  static forRoot(env: OrchestratorSettings, runtime?: ContainerRuntime): DynamicModule {
    return {
      module: OrchestratorModule,
      imports: [
        EnvModule.forRoot(env),
        RuntimeModule.forRoot(runtime),
        BusModule,
        AuthModule,
        CatalogueModule,
        StreamsModule,
        PlatformEventsModule,
        MetricsModule,
        HealthModule,
        HlsModule,
        FaultsModule,
        AutoscaleModule,
        ConsoleModule,
      ],
    };
  }
}
