import type { BusMsg, MaxDeliveriesAdvisory } from './bus.types.js';

const MAX_DELIVERIES_TYPE = 'io.nats.jetstream.advisory.v1.max_deliver';

/**
 * Reads the server's max-deliveries advisory (subscribe to `subjects.maxDeliveriesAdvisory`);
 * undefined for anything else, so a forged or foreign message on the subject is passed over.
 */
export function parseMaxDeliveriesAdvisory(msg: Pick<BusMsg, 'data'>): MaxDeliveriesAdvisory | undefined {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(msg.data));
  } catch {
    return undefined;
  }
  const b = body as { type?: unknown; stream?: unknown; consumer?: unknown; stream_seq?: unknown; deliveries?: unknown } | null;
  if (!b || typeof b !== 'object' || b.type !== MAX_DELIVERIES_TYPE) return undefined;
  if (typeof b.stream !== 'string' || typeof b.consumer !== 'string') return undefined;
  if (!Number.isSafeInteger(b.stream_seq) || (b.stream_seq as number) < 1) return undefined;
  if (!Number.isSafeInteger(b.deliveries) || (b.deliveries as number) < 1) return undefined;
  return { stream: b.stream, consumer: b.consumer, streamSeq: b.stream_seq as number, deliveries: b.deliveries as number };
}
