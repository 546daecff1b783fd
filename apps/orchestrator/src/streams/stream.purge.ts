import type { Bus } from '@livemesh/bus';
import { BUCKETS, STREAMS, subjects } from '@livemesh/contracts';

/**
 * Removes every segment a stream still has queued in LM_SEG, at any hop (`lm.seg.*.<id>.*`),
 * and returns how many went. A stream that ended must not leave work that other streams' fresh
 * segments then wait behind in a service's first-in-first-out consumer.
 *
 * Goes to JetStream's manager directly for now; at merge it becomes the bus's own purge call
 * (libs/bus is making its NATS clients private).
 */
export async function purgeStreamSegments(bus: Bus, streamId: string): Promise<number> {
  const { purged } = await bus.jsm.streams.purge(STREAMS.segments, { filter: subjects.streamSegments(streamId) });
  return purged;
}

/**
 * Deletes a stream record only if it is still at `revision`: an expired record must not take a
 * start of the same id that happened meanwhile with it. False when someone wrote in between.
 *
 * Like purgeStreamSegments, it uses the KV client until the bus offers a compare-and-delete.
 */
export async function deleteRecordAt(bus: Bus, streamId: string, revision: number): Promise<boolean> {
  try {
    await (await bus.kv(BUCKETS.streams)).purge(streamId, { previousSeq: revision });
    return true;
  } catch (e) {
    if (/wrong last sequence/i.test((e as Error).message)) return false;
    throw e;
  }
}
