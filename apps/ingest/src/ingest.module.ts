import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { Bus, busAuthFromEnv, waitForTopology } from '@livemesh/bus';
import { BUCKETS, ENV, type IngestSettings } from '@livemesh/contracts';
import { BusStatus } from './bus.status.js';
import { IngestEgress } from './egress.js';
import { FirstHops } from './first.hops.js';
import { HealthController } from './health.controller.js';
import { IngestLifecycle } from './ingest.lifecycle.js';
import { IngestMetrics } from './ingest.metrics.js';
import { MetricsController } from './metrics.controller.js';
import { RtmpIngestServer } from './rtmp.server.js';
import { SegmenterService } from './segmenter.service.js';
import { SrtListeners } from './srt.listeners.js';
import { StreamDirectory } from './stream.directory.js';
import { StreamWatcher } from './stream.watcher.js';

/** The ingest app: RTMP and pulled sources in, segments out on hop 0 of each stream's chain. */
@Module({})
export class IngestModule {
  static forRoot(env: IngestSettings): DynamicModule {
    return {
      module: IngestModule,
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: ENV, useValue: env },
        {
          provide: Bus,
          useFactory: async (): Promise<Bus> => {
            const bus = await Bus.connect({ url: env.NATS_URL, name: `ingest:${process.pid}`, ...busAuthFromEnv(env) });
            // The orchestrator owns the topology (ingest's credential cannot create any): wait for it.
            await waitForTopology(bus, [BUCKETS.chains, BUCKETS.streams, BUCKETS.keys, BUCKETS.ingest, BUCKETS.status, BUCKETS.blobs]);
            new Logger('IngestModule').log(`connected to ${env.NATS_URL}`);
            return bus;
          },
        },
        BusStatus,
        IngestMetrics,
        FirstHops,
        StreamDirectory,
        IngestEgress,
        SegmenterService,
        RtmpIngestServer,
        SrtListeners,
        StreamWatcher,
        IngestLifecycle,
      ],
    };
  }
}
