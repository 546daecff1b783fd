import { Module } from '@nestjs/common';
import { BusModule } from '../bus/bus.module.js';
import { HealthController } from './health.controller.js';

@Module({ imports: [BusModule], controllers: [HealthController] })
export class HealthModule {}
