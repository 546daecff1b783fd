import { hashStreamKey, keyLabel, sameKeyHash, type StreamRecord, type StreamState } from '@livemesh/contracts';

/** The RTMP application publishers use: rtmp://<host>:<port>/live/<streamKey>. */
export const PUBLISH_APP = 'live';

/** Stream states in which ingest takes media for a stream. */
export const INGESTING_STATES: readonly StreamState[] = ['starting', 'live'];

export const REFUSAL_REASONS = ['wrong-app', 'unknown-key', 'stream-not-started', 'already-publishing', 'lookup-failed'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface PublishAttempt {
  app: string;
  /** SHA-256 of the key the publisher presented (hashStreamKey). */
  keyHash: string;
  ip: string;
  /** `lm_keys[keyHash]`, if any. */
  keyEntry: { streamId: string } | undefined;
  /** `lm_streams[keyEntry.streamId]`, if any. */
  record: Pick<StreamRecord, 'id' | 'state' | 'keyHash' | 'key'> | undefined;
  /** The stream already has a connected publisher. */
  alreadyPublishing: boolean;
}

export type PublishDecision =
  | { accepted: true; streamId: string }
  | { accepted: false; reason: RefusalReason; message: string };

/** Whether a publish may go on; the refusal message is the one log line (the key redacted). */
export function decidePublish(a: PublishAttempt): PublishDecision {
  const who = `key ${keyLabel(a.keyHash)} (hash prefix)`;
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
  if (!sameKeyHash(recordKeyHash(a.record), a.keyHash)) return refuse('unknown-key', `is not the current key of stream ${streamId}`);
  if (!INGESTING_STATES.includes(a.record.state)) {
    return refuse('stream-not-started', `belongs to stream ${streamId}, which is ${a.record.state}`);
  }
  if (a.alreadyPublishing) return refuse('already-publishing', `is already being published to stream ${streamId}`);
  return { accepted: true, streamId };
}

/** The hash of the record's key; a record written before keys were hashed holds the plaintext until the orchestrator rewrites it. */
export function recordKeyHash(record: Pick<StreamRecord, 'keyHash' | 'key'>): string | undefined {
  if (typeof record.keyHash === 'string') return record.keyHash;
  return typeof record.key === 'string' ? hashStreamKey(record.key) : undefined;
}
