import { Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { BUCKETS, ENV, type DeliverySettings } from '@livemesh/contracts';
import { Bus, busAuthFromEnv, waitForTopology } from '@livemesh/bus';
import { DeliveryCheckpointer } from './delivery.checkpoint.js';
import { DeliveryMetrics } from './delivery.metrics.js';
import { DeliveryStatusReporter } from './delivery.status.js';
import { HealthController } from './health.controller.js';
import { HlsController } from './hls.controller.js';
import { HlsRegistry } from './hls.registry.js';
import { OutputConsumer } from './output.consumer.js';
import { Refusals } from './refusals.js';
import { RtmpPushService } from './rtmp.push.js';
import { SegmentArchive } from './segment.archive.js';
import { StreamEndListener } from './stream-end.listener.js';

/** The HLS origin: output subjects in, playlists and segments out over HTTP. */
@Module({})
export class DeliveryModule implements OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryModule.name);

  constructor(private readonly bus: Bus) {}

  static forRoot(env: DeliverySettings): DynamicModule {
    return {
      module: DeliveryModule,
      controllers: [HlsController, HealthController],
      providers: [
        { provide: ENV, useValue: env },
        {
          provide: Bus,
          inject: [ENV],
          useFactory: async (e: DeliverySettings): Promise<Bus> => {
            const bus = await Bus.connect({ url: e.NATS_URL, name: `delivery:${process.pid}`, ...busAuthFromEnv(e) });
            // The orchestrator owns the topology (delivery's credential cannot create any): wait for it.
            await waitForTopology(bus, [BUCKETS.streams, BUCKETS.delivery, BUCKETS.status, BUCKETS.blobs, BUCKETS.outputBlobs]);
            return bus;
          },
        },
        DeliveryMetrics,
        Refusals,
        HlsRegistry,
        SegmentArchive,
        DeliveryCheckpointer,
        DeliveryStatusReporter,
        RtmpPushService,
        OutputConsumer,
        StreamEndListener,
      ],
    };
  }

  /** Runs after the consumers stopped (beforeApplicationShutdown): their last acks are flushed. */
  async onApplicationShutdown(signal?: string): Promise<void> {
    await this.bus.close();
    this.logger.log(`stopped${signal ? ` on ${signal}` : ''}`);
  }
}
