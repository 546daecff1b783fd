import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { ENV, STREAMS, isToken, subjects, type DeliverySettings } from '@livemesh/contracts';
import { Bus, ConsumeLoop } from '@livemesh/bus';
import { HlsRegistry } from './hls.registry.js';

/**
 * Closes a stream's playlists when its `ended` status event arrives. Reads `lm.evt.stream.*.ended`
 * from LM_EVT with an ordered consumer starting as far back as delivery can still hold a stream
 * (the longer of DELIVERY_KEEP_SECONDS and OUTPUT_RETENTION_SECONDS): an end published while
 * delivery was down still produces EXT-X-ENDLIST once it is back. The registry tells which session
 * of an id an end belongs to by time. An `ended` event may carry `data.lastSeq`, which lets
 * delivery end as soon as that seq is in instead of after the grace.
 */
@Injectable()
export class StreamEndListener implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(StreamEndListener.name);
  private readonly loop: ConsumeLoop;

  constructor(
    bus: Bus,
    private readonly registry: HlsRegistry,
    @Inject(ENV) env?: DeliverySettings,
  ) {
    const lookBackMs = Math.max(env?.DELIVERY_KEEP_SECONDS ?? 0, env?.OUTPUT_RETENTION_SECONDS ?? 0) * 1000;
    this.loop = new ConsumeLoop(
      'ended-event consumer',
      (after) =>
        bus.orderedConsumer(STREAMS.events, {
          filter: subjects.streamEventsOfKind('ended'),
          startAt: after === undefined ? { since: new Date(Date.now() - lookBackMs) } : { afterSeq: after },
        }),
      (msg) => this.onEvent(msg.subject, msg.data, msg.time.getTime()),
      this.logger,
      // Reopened after a reconnect from the last event handled (the look-back applies only at boot).
      { reconnects: () => bus.connectionChanges() },
    );
  }

  onApplicationBootstrap(): Promise<void> {
    return this.loop.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.loop.stop();
  }

  /** Public for tests: one raw status event, stored at `storedAt` (ms). */
  onEvent(subject: string, data: Uint8Array, storedAt = Date.now()): void {
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
    this.registry.end(streamId, typeof lastSeq === 'number' && Number.isInteger(lastSeq) && lastSeq >= 0 ? lastSeq : undefined, storedAt);
  }
}
