import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { isToken, subjects } from '@livemesh/contracts';
import { Bus } from '@livemesh/bus';
import { HlsRegistry } from './hls.registry.js';

type Subscription = ReturnType<Bus['nc']['subscribe']>;

/**
 * Closes a stream's playlists when its `ended` status event arrives. A core subscription is enough:
 * a stream whose end delivery missed (it was down) is forgotten after DELIVERY_KEEP_SECONDS of
 * silence anyway, only without EXT-X-ENDLIST. An `ended` event may carry `data.lastSeq`, which lets
 * delivery end as soon as that seq is in instead of after the grace.
 */
@Injectable()
export class StreamEndListener implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(StreamEndListener.name);
  private sub?: Subscription;

  constructor(
    private readonly bus: Bus,
    private readonly registry: HlsRegistry,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.sub = this.bus.nc.subscribe(subjects.streamEvents(), {
      callback: (err, msg) => {
        if (err) {
          this.logger.warn(`status event subscription: ${err.message}`);
          return;
        }
        this.onEvent(msg.subject, msg.data);
      },
    });
    // The subscription is registered with the server before the app says it is ready.
    await this.bus.nc.flush();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.sub?.drain().catch(() => undefined);
  }

  /** Public for tests: one raw status event. */
  onEvent(subject: string, data: Uint8Array): void {
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(data));
    } catch {
      this.logger.warn(`status event on ${subject} is not JSON; ignored`);
      return;
    }
    if (body === null || typeof body !== 'object') return;
    const { streamId, kind, data: extra } = body as { streamId?: unknown; kind?: unknown; data?: unknown };
    if (kind !== 'ended') return;
    if (!isToken(streamId) || subject !== subjects.streamEvent(streamId, 'ended')) {
      this.logger.warn(`'ended' event on ${subject} names stream ${JSON.stringify(streamId)}; ignored`);
      return;
    }
    const lastSeq = (extra as { lastSeq?: unknown } | undefined)?.lastSeq;
    this.registry.end(streamId, typeof lastSeq === 'number' && Number.isInteger(lastSeq) && lastSeq >= 0 ? lastSeq : undefined);
  }
}
