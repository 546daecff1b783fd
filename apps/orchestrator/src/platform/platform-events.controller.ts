import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { publishStreamEvent, Bus } from '@livemesh/bus';
import { NotFoundError, QuotaExceededError, STREAMS, StartStreamRequest, StopStreamRequest, ValidationFailedError, decodeMessage, isToken, subjects, type FailedData } from '@livemesh/contracts';
import { StreamsService } from '../streams/streams.service.js';
import { EventGaveUp, withBoundedRetries } from './event-failure.js';
import { JetStreamContext, orderKey } from './jetstream-event.server.js';

/**
 * A platform's stream events. One that cannot succeed (invalid, unplannable, a refused source
 * URL, a quota, a conflict, a runtime that cannot start a service) is answered at once with a `failed`
 * stream event saying why; a passing failure (the bus) is retried for a few seconds, then
 * answered the same way. Either way the event is acknowledged: nothing waits behind it.
 */
@Controller()
export class PlatformEventsController {
  private readonly logger = new Logger(PlatformEventsController.name);

  constructor(
    @Inject(StreamsService) private readonly streams: StreamsService,
    @Inject(Bus) private readonly bus: Bus,
  ) {}

  // The untyped overload: the typed one insists every argument after the payload is `unknown`.
  @EventPattern<string>(subjects.platformStarted)
  async started(@Payload() data: Uint8Array, @Ctx() ctx: JetStreamContext): Promise<void> {
    try {
      await this.start(data, ctx);
    } finally {
      await this.forgetKey(data, ctx);
    }
  }

  private async start(data: Uint8Array, ctx: JetStreamContext): Promise<void> {
    let request: StartStreamRequest;
    try {
      request = decodeMessage(StartStreamRequest, data, 'platform start event');
    } catch (e) {
      return this.refuse(ctx, data, 'started', e);
    }
    try {
      const { view, created } = await withBoundedRetries(() => this.streams.start(request, 'platform'));
      this.logger.log(`streamId=${view.id} ${created ? 'started' : 'already running'} on a platform event`);
    } catch (e) {
      await this.answerFailure(request.id, 'started', e);
    }
  }

  /**
   * A start event that carried the platform's publish key (`publish.key`) leaves LM_EVT once it is
   * handled: LM_EVT keeps events a day and many components read it, the key must not stay there.
   */
  private async forgetKey(data: Uint8Array, ctx: JetStreamContext): Promise<void> {
    if (!carriesKey(data)) return;
    const { seq } = ctx.getMessage();
    await this.bus.deleteMessage(STREAMS.events, seq).catch((e: Error) => this.logger.error(`event ${ctx.getSubject()} (stream seq ${seq}) carries a publish key and could not be removed from ${STREAMS.events}: ${e.message}`));
  }

  @EventPattern<string>(subjects.platformStopped)
  async stopped(@Payload() data: Uint8Array, @Ctx() ctx: JetStreamContext): Promise<void> {
    let request: StopStreamRequest;
    try {
      request = decodeMessage(StopStreamRequest, data, 'platform stop event');
    } catch (e) {
      return this.refuse(ctx, data, 'stopped', e);
    }
    try {
      await withBoundedRetries(() => this.streams.stop(request.id));
      this.logger.log(`streamId=${request.id} stopped on a platform event`);
    } catch (e) {
      if (e instanceof EventGaveUp && e.reason instanceof NotFoundError) {
        this.logger.warn(`streamId=${request.id} platform stop for a stream that does not exist; ignored`);
        return;
      }
      await this.answerFailure(request.id, 'stopped', e);
    }
  }

  /** Tells the platform why its event failed, on the stream's status subject. */
  private async answerFailure(id: string, event: 'started' | 'stopped', e: unknown): Promise<void> {
    const gaveUp = e instanceof EventGaveUp ? e : new EventGaveUp(e, 1, false);
    const reason = gaveUp.reason as { message?: string; code?: string; problems?: string[] };
    const message = `platform ${event === 'started' ? 'start' : 'stop'} failed${gaveUp.final ? '' : ` after ${gaveUp.attempts} attempts`}: ${gaveUp.message}`;
    this.logger.warn(`streamId=${id} ${message}`);
    // A start that failed after its record was written has already announced it.
    if (event === 'started' && (await this.alreadyFailed(id, gaveUp.message))) return;
    const data: FailedData = { event, final: gaveUp.final, attempts: gaveUp.attempts };
    if (reason?.code) data.code = reason.code;
    if (reason?.problems) data.problems = reason.problems;
    // Over a quota: which limit and the figures, as the HTTP 429 body has them.
    if (reason instanceof QuotaExceededError) Object.assign(data, { limit: reason.limit, current: reason.current, max: reason.max });
    await publishStreamEvent(this.bus, { streamId: id, kind: 'failed', message, data });
  }

  private async alreadyFailed(id: string, message: string): Promise<boolean> {
    const view = await this.streams.get(id).catch(() => undefined);
    return view?.state === 'failed' && view.errors.at(-1)?.message === message;
  }

  /** An event that is not a valid request: dropped, with a `failed` event when it names a usable id. */
  private async refuse(ctx: JetStreamContext, data: Uint8Array, event: 'started' | 'stopped', e: unknown): Promise<void> {
    if (!(e instanceof ValidationFailedError)) throw e;
    const msg = ctx.getMessage();
    this.logger.warn(`event ${ctx.getSubject()} (stream seq ${msg.seq}) refused and dropped: ${e.message}`);
    const key = orderKey(data, msg.seq);
    const id = key.startsWith('id:') ? key.slice(3) : undefined;
    if (id !== undefined && isToken(id)) await this.answerFailure(id, event, new EventGaveUp(e, 1, true));
  }
}

/** Whether a start event's body names a publish key (valid or not). */
export function carriesKey(data: Uint8Array): boolean {
  try {
    const body = JSON.parse(new TextDecoder().decode(data)) as { publish?: { key?: unknown } } | null;
    return body?.publish?.key !== undefined;
  } catch {
    return false;
  }
}
