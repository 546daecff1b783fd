import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { CatalogueModule } from '../catalogue/catalogue.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { AutoscalerService } from './autoscaler.service.js';

/** Autoscaling on consumer lag for runtimes without an autoscaler of their own (docs/scaling.md). */
@Module({
  imports: [BusModule, CatalogueModule, MetricsModule],
  providers: [AutoscalerService],
  exports: [AutoscalerService],
})
export class AutoscaleModule {}
