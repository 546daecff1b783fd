import type { Bus } from '@livemesh/bus';
import { BUCKETS, STREAMS, subjects } from '@livemesh/contracts';

/**
 * Removes every segment a stream still has queued in LM_SEG, at any hop (`lm.seg.*.<id>.*`),
 * and returns how many went. A stream that ended must not leave work that other streams' fresh
 * segments then wait behind in a service's first-in-first-out consumer.
 */
export function purgeStreamSegments(bus: Bus, streamId: string): Promise<number> {
  return bus.purge(STREAMS.segments, { filter: subjects.streamSegments(streamId) });
}

/**
 * Deletes a stream record only if it is still at `revision`: an expired record must not take a
 * start of the same id that happened meanwhile with it. False when someone wrote in between.
 */
export function deleteRecordAt(bus: Bus, streamId: string, revision: number): Promise<boolean> {
  return bus.store(BUCKETS.streams).purgeAt(streamId, revision);
}
