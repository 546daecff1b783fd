import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Bus, ConsumeLoop, parseMaxDeliveriesAdvisory, publishJson, type ConsumedMsg, type ConsumerState } from '@livemesh/bus';
import { BusError, STREAMS, consumers, subjects } from '@livemesh/contracts';
import { FaultRefused, checkAgainstConsumer, crashEvent, crashReason, segmentOf, serviceOfAdvisory } from './segment-faults.js';

/** Retries of one advisory whose handling fails on the bus (NATS unreachable), 2 s apart. */
const MAX_TRIES = 30;

/**
 * Gives every segment an end when its worker dies on every attempt. The stage SDK dead-letters a
 * segment itself on its last attempt, but a worker that crashes (or is killed) mid-segment every
 * time never gets there: the service consumer reaches max_deliver and the server only sends an
 * advisory. LM_SEG_FAULTS stores those advisories, and this durable consumer, per advisory, reads
 * the segment from LM_SEG by its sequence, puts it on `lm.dlq.<service>.<streamId>`
 * (`LM_WORKER_CRASHED`), publishes a `dead-letter` event and deletes it from LM_SEG. Stored and
 * durable, so an advisory that fired while the orchestrator was down is handled when it is back;
 * each step is idempotent (the dead letter and the event carry message ids), so a crash halfway
 * repeats it without doubles.
 */
@Injectable()
export class SegmentFaultsConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(SegmentFaultsConsumer.name);
  private readonly loop: ConsumeLoop;

  constructor(@Inject(Bus) private readonly bus: Bus) {
    this.loop = new ConsumeLoop(
      'segment-fault consumer',
      () =>
        this.bus.durableConsumer(STREAMS.segmentFaults, {
          name: consumers.segmentFaults,
          filter: subjects.maxDeliveriesAdvisory(STREAMS.segments),
          ackWaitMs: 30_000,
          maxDeliver: MAX_TRIES,
          maxAckPending: 64,
        }),
      (m) => this.handle(m),
      this.logger,
      // Bound again after a failure or a reconnect, so a NATS restart does not end dead-lettering for good.
      { reconnects: () => this.bus.connectionChanges(), maxMessages: 16, recreateMissing: true },
    );
  }

  onApplicationBootstrap(): Promise<void> {
    return this.loop.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.loop.stop();
  }

  private async handle(m: ConsumedMsg): Promise<void> {
    try {
      await this.deadLetter(m);
      m.ack();
    } catch (e) {
      if (e instanceof FaultRefused) {
        // Never redelivered: each refusal is logged once.
        this.logger.warn(`max-deliveries advisory ${m.seq} on ${m.subject} refused: ${e.message}`);
        m.term();
        return;
      }
      this.logger.warn(`max-deliveries advisory ${m.seq} (try ${m.info.deliveryCount}/${MAX_TRIES}) failed, retrying: ${(e as Error).message}`);
      m.nak(2_000);
    }
  }

  private async deadLetter(m: ConsumedMsg): Promise<void> {
    const advisory = parseMaxDeliveriesAdvisory(m);
    const service = serviceOfAdvisory(m.subject, advisory);
    const { streamSeq, deliveries } = advisory!;
    const stored = await this.bus.getMessage(STREAMS.segments, { seq: streamSeq });
    // Acked after all (a late worker), aged out, or dead-lettered before a crash of ours: done.
    if (!stored) return;
    checkAgainstConsumer(advisory!, await this.consumerState(advisory!.consumer));
    const { meta, msgId } = segmentOf(service, stored);
    await this.bus.publishDeadLetter(service, meta.streamId, stored, crashReason(service, deliveries));
    await publishJson(this.bus, subjects.streamEvent(meta.streamId, 'dead-letter'), crashEvent(service, meta, deliveries), `dead-letter.${msgId}`);
    await this.bus.deleteMessage(STREAMS.segments, streamSeq);
    this.logger.error(`service=${service} streamId=${meta.streamId} seq=${meta.seq} hop=${meta.hop} dead-lettered: delivered ${deliveries} times, never acknowledged (the worker died on every attempt)`);
  }

  private async consumerState(name: string): Promise<ConsumerState | undefined> {
    try {
      return await this.bus.consumerInfo(STREAMS.segments, name);
    } catch (e) {
      if (e instanceof BusError && e.reason === 'not-found') return undefined;
      throw e;
    }
  }
}
