import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Bus, ConsumeLoop, JsonStore, type ConsumedMsg } from '@livemesh/bus';
import { BUCKETS, STREAMS, consumers, isToken, subjects, type StreamEventHeader, type StreamRecord } from '@livemesh/contracts';

/**
 * The kinds that say segments of the stream were lost on the way (failed, or dropped to keep the
 * stream live): what an operator looks for first.
 */
const RECORDED = new Set<StreamEventHeader['kind']>(['dead-letter', 'segment-failed', 'segments-dropped']);
/** A stream keeps its most recent errors; the dead-letter stream (LM_DLQ) keeps the segments themselves. */
const MAX_ERRORS = 50;

/**
 * Copies the segment failures and drops that workers and ingest announce on `lm.evt.stream.<id>.*` into the stream's
 * record, so GET /api/streams/:id says which segment failed where and why, not only how many. A
 * durable consumer, so a failure announced while the orchestrator restarts is recorded when it is
 * back; the record is updated by compare-and-set, like every other change to it.
 */
@Injectable()
export class StreamErrorsRecorder implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(StreamErrorsRecorder.name);
  private readonly records: JsonStore<StreamRecord>;
  private readonly loop: ConsumeLoop;

  constructor(@Inject(Bus) private readonly bus: Bus) {
    this.records = bus.store(BUCKETS.streams);
    this.loop = new ConsumeLoop(
      'status-event consumer',
      () =>
        this.bus.durableConsumer(STREAMS.events, {
          name: consumers.streamErrors,
          filter: subjects.streamEvents(),
          ackWaitMs: 30_000,
          // Recording an error is a KV write: an event that fails it this often is not worth holding the rest.
          maxDeliver: 5,
          maxAckPending: 256,
          // From the first start on; after that the durable consumer remembers where it was.
          startAt: 'new',
        }),
      (m) => this.handle(m),
      this.logger,
      // Bound again after a failure or a reconnect: without it, one NATS restart would stop the recording for good.
      { reconnects: () => this.bus.connectionChanges(), recreateMissing: true },
    );
  }

  onApplicationBootstrap(): Promise<void> {
    return this.loop.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.loop.stop();
  }

  private async handle(m: ConsumedMsg): Promise<void> {
    const event = parseEvent(m);
    if (!event || !RECORDED.has(event.kind)) {
      if (!event) this.logger.warn(`status event on ${m.subject} is not a stream event: dropped`);
      m.ack();
      return;
    }
    try {
      await this.append(event);
      m.ack();
    } catch (e) {
      this.logger.warn(`streamId=${event.streamId} recording a ${event.kind} failed, retrying: ${(e as Error).message}`);
      m.nak(1_000);
    }
  }

  private async append(event: StreamEventHeader): Promise<void> {
    const where = [event.service, event.hop !== undefined ? `hop ${event.hop}` : '', event.seq !== undefined ? `seq ${event.seq}` : ''].filter(Boolean).join(', ');
    const entry = { at: event.at, message: `${event.kind}${where ? ` (${where})` : ''}: ${event.message ?? 'no reason given'}`, ...(event.service ? { service: event.service } : {}) };
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.records.get(event.streamId);
      // A stream that no longer exists has nobody to tell; its segments are still in LM_DLQ.
      if (!current) return;
      const errors = [...current.value.errors, entry].slice(-MAX_ERRORS);
      const value = { ...current.value, errors, updatedAt: new Date().toISOString() };
      if ((await this.records.update(event.streamId, value, current.revision)) !== undefined) return;
    }
    throw new Error('the stream record kept changing');
  }
}

/** What a worker published, checked before it is trusted: a bus message is outside input. */
function parseEvent(m: ConsumedMsg): StreamEventHeader | undefined {
  let body: Partial<StreamEventHeader>;
  try {
    body = m.json<Partial<StreamEventHeader>>();
  } catch {
    return undefined;
  }
  if (!body || typeof body !== 'object' || !isToken(body.streamId) || typeof body.kind !== 'string' || typeof body.at !== 'string') return undefined;
  if (subjects.streamEvent(body.streamId, body.kind) !== m.subject) return undefined;
  return {
    streamId: body.streamId,
    kind: body.kind,
    at: body.at,
    ...(typeof body.message === 'string' ? { message: body.message.slice(0, 1000) } : {}),
    ...(typeof body.service === 'string' && isToken(body.service) ? { service: body.service } : {}),
    ...(Number.isInteger(body.hop) ? { hop: body.hop } : {}),
    ...(Number.isInteger(body.seq) ? { seq: body.seq } : {}),
  };
}
