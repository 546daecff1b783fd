import { subjects, type StreamEvent } from '@livemesh/contracts';
import type { Bus } from './bus.connection.js';

/** Publishes a status event on `lm.evt.stream.<id>.<kind>` (stored in LM_EVT). */
export async function publishStreamEvent(bus: Bus, event: Omit<StreamEvent, 'at'> & { at?: string }): Promise<void> {
  const full: StreamEvent = { ...event, at: event.at ?? new Date().toISOString() };
  await bus.publish(subjects.streamEvent(full.streamId, full.kind), JSON.stringify(full));
}

/** Publishes any JSON message to JetStream and waits for it to be stored. */
export async function publishJson(bus: Bus, subject: string, body: unknown, msgId?: string): Promise<void> {
  await bus.publish(subject, JSON.stringify(body), msgId ? { msgId } : {});
}
