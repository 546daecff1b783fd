import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { BusStatus } from './bus.status.js';
import { RtmpIngestServer } from './rtmp.server.js';

@Controller()
export class HealthController {
  constructor(
    @Inject(BusStatus) private readonly bus: BusStatus,
    @Inject(RtmpIngestServer) private readonly rtmp: RtmpIngestServer,
  ) {}

  /** 200 when NATS is connected and RTMP listens, else 503 with the same body. */
  @Get('health')
  health(): { status: 'ok'; nats: boolean; rtmp: boolean } {
    const body = { nats: this.bus.isConnected, rtmp: this.rtmp.isListening };
    if (!body.nats || !body.rtmp) throw new ServiceUnavailableException({ status: 'unavailable', ...body });
    return { status: 'ok', ...body };
  }

}
