import { Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Bus, busAuthFromEnv, ensureTopology, topologyFromEnv } from '@livemesh/bus';
import { ENV, type OrchestratorSettings } from '@livemesh/contracts';

/** The one connected Bus of the orchestrator; the topology exists before anything uses it. */
@Module({
  providers: [
    {
      provide: Bus,
      inject: [ENV],
      useFactory: async (env: OrchestratorSettings): Promise<Bus> => {
        const logger = new Logger('BusModule');
        const bus = await Bus.connect({ url: env.NATS_URL, name: `orchestrator:${process.pid}`, ...busAuthFromEnv(env) });
        await ensureTopology(bus, topologyFromEnv(env));
        logger.log(`connected to ${env.NATS_URL}; streams, buckets and stores are in place`);
        return bus;
      },
    },
  ],
  exports: [Bus],
})
export class BusModule implements OnApplicationShutdown {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}
