import { BusError, STREAMS, consumers, subjects } from '@livemesh/contracts';
import type { Bus } from './bus.connection.js';
import type { BusConsumer } from './bus.types.js';

export interface ServiceConsumerOptions {
  /** Time a replica has to ack (or send in-progress) before the segment is redelivered, ms. */
  ackWaitMs: number;
  /** Deliveries before the SDK gives the segment up (it dead-letters on the last one). */
  maxDeliver: number;
  /** Segments one replica may hold unacked at once across all replicas of the service. */
  maxAckPending?: number;
}

/**
 * The one durable pull consumer of a service (`svc_<service>`, filter `lm.seg.<service>.>`).
 * Every replica pulls from it, so adding a replica adds throughput, and a segment held by a
 * replica that dies is redelivered to another after ackWait.
 */
export function ensureServiceConsumer(bus: Bus, service: string, opts: ServiceConsumerOptions): Promise<BusConsumer> {
  return bus.durableConsumer(STREAMS.segments, {
    name: consumers.service(service),
    filter: subjects.serviceFilter(service),
    ackWaitMs: opts.ackWaitMs,
    // One more than the SDK's attempts: the last delivery is where it dead-letters explicitly. A
    // segment whose worker dies on every delivery reaches this limit instead, and the orchestrator
    // dead-letters it from the server's advisory (apps/orchestrator/src/faults/).
    maxDeliver: opts.maxDeliver + 1,
    maxAckPending: opts.maxAckPending ?? 256,
  });
}

/**
 * The service's durable consumer as the orchestrator created it, for a worker to pull from: a
 * worker's credential may not create or change it. Waits (up to `timeoutMs`) for it to appear.
 */
export async function bindServiceConsumer(bus: Bus, service: string, timeoutMs = 60_000): Promise<BusConsumer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await bus.boundConsumer(STREAMS.segments, consumers.service(service));
    } catch (e) {
      if (!(e instanceof BusError) || e.reason !== 'not-found') throw e;
      if (Date.now() > deadline) throw new BusError(`consumer ${consumers.service(service)} on ${STREAMS.segments} does not exist after ${timeoutMs} ms: the orchestrator creates it when it starts the service's workers`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
