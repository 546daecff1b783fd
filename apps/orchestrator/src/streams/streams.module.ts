import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { CatalogueModule } from '../catalogue/catalogue.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { PlaybackSigner } from './playback.signer.js';
import { QuotaFastPath } from './quota.fast-path.js';
import { StreamCounters } from './stream.counters.js';
import { StreamErrorsRecorder } from './stream-errors.recorder.js';
import { StreamQuotas } from './stream.quotas.js';
import { StreamTable } from './stream.table.js';
import { StreamsController } from './streams.controller.js';
import { StreamsReconciler } from './streams.reconciler.js';
import { StreamsService } from './streams.service.js';
import { StreamsSweeper } from './streams.sweeper.js';
import { ThumbnailController } from './thumbnail.controller.js';

@Module({
  imports: [BusModule, CatalogueModule, MetricsModule],
  controllers: [StreamsController, ThumbnailController],
  providers: [PlaybackSigner, StreamTable, StreamQuotas, StreamsService, StreamsReconciler, StreamsSweeper, StreamCounters, StreamErrorsRecorder],
  exports: [StreamsService, StreamTable, PlaybackSigner],
})
export class StreamsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(QuotaFastPath).forRoutes({ path: 'api/streams', method: RequestMethod.POST });
  }
}
