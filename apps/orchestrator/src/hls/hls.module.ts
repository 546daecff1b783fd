import { Module } from '@nestjs/common';
import { StreamsModule } from '../streams/streams.module.js';
import { HlsProxyController } from './hls-proxy.controller.js';

@Module({ imports: [StreamsModule], controllers: [HlsProxyController] })
export class HlsModule {}
