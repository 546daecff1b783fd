import { decidePublish, type PublishAttempt } from './publish.policy.js';

const KEY = 'k3yS3cretValue';
const ok: PublishAttempt = {
  app: 'live',
  key: KEY,
  ip: '127.0.0.1',
  keyEntry: { streamId: 's1' },
  record: { id: 's1', state: 'live', key: KEY },
  alreadyPublishing: false,
};

describe('decidePublish', () => {
  it('accepts a key of a starting or live stream', () => {
    expect(decidePublish(ok)).toEqual({ accepted: true, streamId: 's1' });
    expect(decidePublish({ ...ok, record: { id: 's1', state: 'starting', key: KEY } })).toEqual({ accepted: true, streamId: 's1' });
  });

  it.each([
    [{ app: 'other' }, 'wrong-app', /wrong application/],
    [{ keyEntry: undefined }, 'unknown-key', /is owned by no started stream \(app "live", ip 127\.0\.0\.1\)/],
    [{ record: undefined }, 'stream-not-started', /has no record/],
    [{ record: { id: 's1', state: 'live', key: 'another' } }, 'unknown-key', /not the current key/],
    [{ record: { id: 's1', state: 'ended', key: KEY } }, 'stream-not-started', /which is ended/],
    [{ record: { id: 's1', state: 'stopping', key: KEY } }, 'stream-not-started', /which is stopping/],
    [{ alreadyPublishing: true }, 'already-publishing', /already being published/],
  ] as const)('refuses %j as %s', (change, reason, message) => {
    const d = decidePublish({ ...ok, ...(change as Partial<PublishAttempt>) });
    expect(d.accepted).toBe(false);
    if (d.accepted) return;
    expect(d.reason).toBe(reason);
    expect(d.message).toMatch(message);
    expect(d.message).toMatch(/^publish refused: key "k3yS…" \(first 4 chars only\)/);
    expect(d.message).not.toContain(KEY);
  });
});
