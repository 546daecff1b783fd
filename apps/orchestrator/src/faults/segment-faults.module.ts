import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { SegmentFaultsConsumer } from './segment-faults.consumer.js';

/** Faults the data plane cannot report itself: segments whose worker died on every attempt. */
@Module({
  imports: [BusModule],
  providers: [SegmentFaultsConsumer],
})
export class FaultsModule {}
