import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Bus } from '@livemesh/bus';

/** Whether the NATS connection is up right now (for /health), from the client's status events. */
@Injectable()
export class BusStatus implements OnApplicationShutdown {
  private readonly logger = new Logger(BusStatus.name);
  private connected = true;

  constructor(@Inject(Bus) private readonly bus: Bus) {
    void (async () => {
      for await (const change of bus.connectionChanges()) {
        if (change === 'disconnect') {
          this.connected = false;
          this.logger.warn('NATS connection lost; reconnecting');
        } else {
          this.connected = true;
          this.logger.log('NATS connection back');
        }
      }
    })().catch(() => undefined);
  }

  get isConnected(): boolean {
    return this.connected && !this.bus.isClosed();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}
