import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Bus } from '@livemesh/bus';
import { Public } from '../auth/auth.decorators.js';

interface Health {
  status: 'ok';
  nats?: { connected: true; rttMs: number };
}

/** /health/live: the process answers. /health and /health/ready: NATS answers too (503 otherwise). */
@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get('live')
  live(): Health {
    return { status: 'ok' };
  }

  @Get()
  health(): Promise<Health> {
    return this.ready();
  }

  @Get('ready')
  async ready(): Promise<Health> {
    try {
      if (this.bus.isClosed()) throw new Error('connection closed');
      const rttMs = await Promise.race([
        this.bus.rtt(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2_000).unref()),
      ]);
      return { status: 'ok', nats: { connected: true, rttMs: Math.round(rttMs * 100) / 100 } };
    } catch (e) {
      throw new ServiceUnavailableException({ statusCode: 503, error: 'Service Unavailable', message: `NATS is not reachable: ${(e as Error).message}`, nats: { connected: false } });
    }
  }
}
