import { Module } from '@nestjs/common';
import { HlsProxyController } from './hls-proxy.controller.js';

@Module({ controllers: [HlsProxyController] })
export class HlsModule {}
