import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { CatalogueModule } from '../catalogue/catalogue.module.js';
import { StreamsModule } from '../streams/streams.module.js';
import { ConsoleAssetsController } from './console-assets.controller.js';
import { ConsoleDataController } from './console-data.controller.js';
import { EventsController } from './events.controller.js';

/** The operator's console (docs/console.md): its page, and the few routes it needs beyond the API's own. */
@Module({
  imports: [BusModule, CatalogueModule, StreamsModule],
  controllers: [ConsoleAssetsController, ConsoleDataController, EventsController],
})
export class ConsoleModule {}
