import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { CatalogueModule } from '../catalogue/catalogue.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { StreamCounters } from './stream.counters.js';
import { StreamErrorsRecorder } from './stream-errors.recorder.js';
import { StreamsController } from './streams.controller.js';
import { StreamsReconciler } from './streams.reconciler.js';
import { StreamsService } from './streams.service.js';
import { ThumbnailController } from './thumbnail.controller.js';

@Module({
  imports: [BusModule, CatalogueModule, MetricsModule],
  controllers: [StreamsController, ThumbnailController],
  providers: [StreamsService, StreamsReconciler, StreamCounters, StreamErrorsRecorder],
  exports: [StreamsService],
})
export class StreamsModule {}
