import { Controller, Inject, Logger } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { publishStreamEvent, Bus } from '@livemesh/bus';
import {
  ChainPlanError,
  NotFoundError,
  StartStreamRequest,
  StopStreamRequest,
  ValidationFailedError,
  decodeMessage,
  subjects,
} from '@livemesh/contracts';
import { StreamsService } from '../streams/streams.service.js';
import { JetStreamContext } from './jetstream-event.server.js';

/**
 * A platform's stream events. A request that can never succeed (invalid, unplannable, unknown
 * stream) is logged and acknowledged; anything else throws, so the event is redelivered.
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
    let request: StartStreamRequest;
    try {
      request = decodeMessage(StartStreamRequest, data, 'platform start event');
    } catch (e) {
      return this.refuse(ctx, e);
    }
    try {
      const { view, created } = await this.streams.start(request, 'platform');
      this.logger.log(`streamId=${view.id} ${created ? 'started' : 'already running'} on a platform event`);
    } catch (e) {
      if (!(e instanceof ChainPlanError)) throw e;
      this.logger.warn(`streamId=${request.id} platform start refused: ${e.problems.join('; ')}`);
      // The id is valid, so the platform can hear why on the stream's status subject.
      await publishStreamEvent(this.bus, { streamId: request.id, kind: 'failed', message: e.message, data: { problems: e.problems } });
    }
  }

  @EventPattern<string>(subjects.platformStopped)
  async stopped(@Payload() data: Uint8Array, @Ctx() ctx: JetStreamContext): Promise<void> {
    let request: StopStreamRequest;
    try {
      request = decodeMessage(StopStreamRequest, data, 'platform stop event');
    } catch (e) {
      return this.refuse(ctx, e);
    }
    try {
      await this.streams.stop(request.id);
      this.logger.log(`streamId=${request.id} stopped on a platform event`);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      this.logger.warn(`streamId=${request.id} platform stop for a stream that does not exist; ignored`);
    }
  }

  private refuse(ctx: JetStreamContext, e: unknown): void {
    if (!(e instanceof ValidationFailedError)) throw e;
    const msg = ctx.getMessage();
    this.logger.warn(`event ${ctx.getSubject()} (stream seq ${msg.seq}) refused and dropped: ${e.message}`);
  }
}
