import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { IngestEgress } from './egress.js';
import { FirstHops } from './first.hops.js';
import { RtmpIngestServer } from './rtmp.server.js';
import { SegmenterService } from './segmenter.service.js';
import { StreamWatcher } from './stream.watcher.js';

/**
 * Start and stop order in one place. Up: chains mirrored, temp folder clean, RTMP listening, the
 * egress proxy up, then records followed (which may start pulls). Down (SIGTERM): no new work,
 * every segmenter flushes its last segment and it is published, NMS closes, the egress proxy
 * closes; the bus drains last (BusStatus).
 */
@Injectable()
export class IngestLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(IngestLifecycle.name);

  constructor(
    @Inject(FirstHops) private readonly chains: FirstHops,
    @Inject(SegmenterService) private readonly segmenter: SegmenterService,
    @Inject(RtmpIngestServer) private readonly rtmp: RtmpIngestServer,
    @Inject(StreamWatcher) private readonly watcher: StreamWatcher,
    @Inject(IngestEgress) private readonly egress: IngestEgress,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.chains.start();
    await this.segmenter.prepare();
    await this.rtmp.start();
    await this.egress.start();
    await this.watcher.start();
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.logger.log(`shutting down${signal ? ` (${signal})` : ''}: flushing segmenters`);
    this.segmenter.beginShutdown();
    await this.watcher.stop();
    await this.rtmp.stop();
    await this.segmenter.endAll();
    await this.egress.stop();
    this.logger.log('segmenters flushed, RTMP closed');
  }
}
