import { subjects, type NewStreamEvent, type StreamEventKind } from '@livemesh/contracts';
import type { Bus } from './bus.connection.js';

/**
 * Publishes a status event on `lm.evt.stream.<id>.<kind>` (stored in LM_EVT). The kind fixes the
 * type of `data` (StreamEventData), so a payload of another kind does not compile.
 */
export async function publishStreamEvent<K extends StreamEventKind>(bus: Bus, event: NewStreamEvent<K>): Promise<void> {
  const full = { ...event, at: event.at ?? new Date().toISOString() };
  await bus.publish(subjects.streamEvent(full.streamId, full.kind), JSON.stringify(full));
}

/** Publishes any JSON message to JetStream and waits for it to be stored. */
export async function publishJson(bus: Bus, subject: string, body: unknown, msgId?: string): Promise<void> {
  await bus.publish(subject, JSON.stringify(body), msgId ? { msgId } : {});
}
