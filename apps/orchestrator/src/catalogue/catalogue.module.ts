import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { BUILT_IN_CATALOGUE, builtInCatalogue } from './catalogue.builtins.js';
import { CatalogueService } from './catalogue.service.js';
import { PipelinesController } from './pipelines.controller.js';
import { ServicesController } from './services.controller.js';

@Module({
  imports: [BusModule],
  controllers: [ServicesController, PipelinesController],
  providers: [CatalogueService, { provide: BUILT_IN_CATALOGUE, useFactory: builtInCatalogue }],
  exports: [CatalogueService],
})
export class CatalogueModule {}
