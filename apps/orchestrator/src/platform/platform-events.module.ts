import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { StreamsModule } from '../streams/streams.module.js';
import { PlatformEventsController } from './platform-events.controller.js';

@Module({
  imports: [BusModule, StreamsModule],
  controllers: [PlatformEventsController],
})
export class PlatformEventsModule {}
