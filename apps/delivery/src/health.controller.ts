import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import type { ServerResponse as Response } from 'node:http';
import { Bus } from '@livemesh/bus';
import { DeliveryMetrics } from './delivery.metrics.js';
import { HlsRegistry } from './hls.registry.js';

@Controller()
export class HealthController {
  constructor(
    private readonly bus: Bus,
    private readonly registry: HlsRegistry,
    private readonly metrics: DeliveryMetrics,
  ) {}

  /** 200 while the NATS connection is open: without it no segment can arrive. */
  @Get('health')
  health(): { status: 'ok'; streams: number } {
    if (this.bus.isClosed()) throw new ServiceUnavailableException('the NATS connection is closed');
    return { status: 'ok', streams: this.registry.streamCount };
  }

  @Get('metrics')
  async metricsText(@Res({ passthrough: true }) res: Response): Promise<string> {
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    return this.metrics.registry.metrics();
  }
}
