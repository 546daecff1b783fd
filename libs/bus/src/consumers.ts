import { nanos } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, type Consumer, type ConsumerConfig } from '@nats-io/jetstream';
import { STREAMS, consumers, subjects } from '@livemesh/contracts';
import type { Bus } from './bus.connection.js';
import { isNotFound } from './topology.js';

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
export async function ensureServiceConsumer(bus: Bus, service: string, opts: ServiceConsumerOptions): Promise<Consumer> {
  const config: Partial<ConsumerConfig> = {
    durable_name: consumers.service(service),
    filter_subject: subjects.serviceFilter(service),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(opts.ackWaitMs),
    // One more than the SDK's attempts: the last delivery is where it dead-letters explicitly.
    max_deliver: opts.maxDeliver + 1,
    max_ack_pending: opts.maxAckPending ?? 256,
  };
  return ensureDurable(bus, STREAMS.segments, config);
}

/** Creates a durable consumer, or updates it when it exists with other settings. */
export async function ensureDurable(bus: Bus, stream: string, config: Partial<ConsumerConfig>): Promise<Consumer> {
  const name = config.durable_name!;
  try {
    await bus.jsm.consumers.info(stream, name);
    const { durable_name: _d, filter_subject: _f, deliver_policy: _p, ...updatable } = config;
    await bus.jsm.consumers.update(stream, name, updatable);
  } catch (e) {
    if (!isNotFound(e)) throw e;
    await bus.jsm.consumers.add(stream, config);
  }
  return bus.js.consumers.get(stream, name);
}
