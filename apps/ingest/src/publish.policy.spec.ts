import { hashStreamKey } from '@livemesh/contracts';
import { decidePublish, recordKeyHash, type PublishAttempt } from './publish.policy.js';

const KEY = 'k3yS3cretValue';
const HASH = hashStreamKey(KEY);
const ok: PublishAttempt = {
  app: 'live',
  keyHash: HASH,
  ip: '127.0.0.1',
  keyEntry: { streamId: 's1' },
  record: { id: 's1', state: 'live', keyHash: HASH },
  alreadyPublishing: false,
};

describe('decidePublish', () => {
  it('accepts a key of a starting or live stream', () => {
    expect(decidePublish(ok)).toEqual({ accepted: true, streamId: 's1' });
    expect(decidePublish({ ...ok, record: { id: 's1', state: 'starting', keyHash: HASH } })).toEqual({ accepted: true, streamId: 's1' });
  });

  it.each([
    [{ app: 'other' }, 'wrong-app', /wrong application/],
    [{ keyEntry: undefined }, 'unknown-key', /is owned by no started stream \(app "live", ip 127\.0\.0\.1\)/],
    [{ record: undefined }, 'stream-not-started', /has no record/],
    [{ record: { id: 's1', state: 'live', keyHash: hashStreamKey('another') } }, 'unknown-key', /not the current key/],
    [{ record: { id: 's1', state: 'live', keyHash: 'not-a-hash' } }, 'unknown-key', /not the current key/],
    [{ record: { id: 's1', state: 'ended', keyHash: HASH } }, 'stream-not-started', /which is ended/],
    [{ record: { id: 's1', state: 'stopping', keyHash: HASH } }, 'stream-not-started', /which is stopping/],
    [{ alreadyPublishing: true }, 'already-publishing', /already being published/],
  ] as const)('refuses %j as %s', (change, reason, message) => {
    const d = decidePublish({ ...ok, ...(change as Partial<PublishAttempt>) });
    expect(d.accepted).toBe(false);
    if (d.accepted) return;
    expect(d.reason).toBe(reason);
    expect(d.message).toMatch(message);
    expect(d.message).toMatch(new RegExp(`^publish refused: key #${HASH.slice(0, 8)} \\(hash prefix\\)`));
    expect(d.message).not.toContain(KEY);
  });

  it('accepts a record written before keys were hashed (plaintext key) by hashing it', () => {
    expect(decidePublish({ ...ok, record: { id: 's1', state: 'live', key: KEY } as PublishAttempt['record'] })).toEqual({ accepted: true, streamId: 's1' });
    expect(recordKeyHash({ key: KEY } as never)).toBe(HASH);
  });
});
