import type { StreamRecord, StreamState } from '@livemesh/contracts';
import { redactKey } from './stream-key.redact.js';

/** The RTMP application publishers use: rtmp://<host>:<port>/live/<streamKey>. */
export const PUBLISH_APP = 'live';

/** Stream states in which ingest takes media for a stream. */
export const INGESTING_STATES: readonly StreamState[] = ['starting', 'live'];

export const REFUSAL_REASONS = ['wrong-app', 'unknown-key', 'stream-not-started', 'already-publishing', 'lookup-failed'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface PublishAttempt {
  app: string;
  key: string;
  ip: string;
  /** `lm_keys[key]`, if any. */
  keyEntry: { streamId: string } | undefined;
  /** `lm_streams[keyEntry.streamId]`, if any. */
  record: Pick<StreamRecord, 'id' | 'state' | 'key'> | undefined;
  /** The stream already has a connected publisher. */
  alreadyPublishing: boolean;
}

export type PublishDecision =
  | { accepted: true; streamId: string }
  | { accepted: false; reason: RefusalReason; message: string };

/** Whether a publish may go on; the refusal message is the one log line (the key redacted). */
export function decidePublish(a: PublishAttempt): PublishDecision {
  const who = `key "${redactKey(a.key)}" (first 4 chars only)`;
  const where = `(app "${a.app}", ip ${a.ip})`;
  const refuse = (reason: RefusalReason, why: string): PublishDecision => ({
    accepted: false,
    reason,
    message: `publish refused: ${who} ${why} ${where}`,
  });
  if (a.app !== PUBLISH_APP) return refuse('wrong-app', `was published to the wrong application: use rtmp://<host>/${PUBLISH_APP}/<key>`);
  if (!a.keyEntry) return refuse('unknown-key', 'is owned by no started stream');
  const streamId = a.keyEntry.streamId;
  if (!a.record) return refuse('stream-not-started', `belongs to stream ${streamId}, which has no record`);
  // The key bucket and the record are written separately: both must agree on who owns the key.
  if (a.record.key !== a.key) return refuse('unknown-key', `is not the current key of stream ${streamId}`);
  if (!INGESTING_STATES.includes(a.record.state)) {
    return refuse('stream-not-started', `belongs to stream ${streamId}, which is ${a.record.state}`);
  }
  if (a.alreadyPublishing) return refuse('already-publishing', `is already being published to stream ${streamId}`);
  return { accepted: true, streamId };
}
