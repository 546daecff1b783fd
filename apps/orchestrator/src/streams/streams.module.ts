import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { CatalogueModule } from '../catalogue/catalogue.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { StreamsController } from './streams.controller.js';
import { StreamsService } from './streams.service.js';

@Module({
  imports: [BusModule, CatalogueModule, MetricsModule],
  controllers: [StreamsController],
  providers: [StreamsService],
  exports: [StreamsService],
})
export class StreamsModule {}
