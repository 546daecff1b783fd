import { CLIENT_DEFAULTS, clusterConnectOptions, isRetryablePublishError, publishWithRetry, seedServers, type RetryClock } from './client.options.js';

/** A clock that only moves when the code under test sleeps. */
function fakeClock(): RetryClock & { slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
    random: () => 0.5,
  };
}

const timeout = () => Object.assign(new Error('timeout'), { name: 'TimeoutError' });
const noResponders = () => new Error('jetstream is not enabled');
const POLICY = { deadlineMs: 10_000, attemptTimeoutMs: 3_000, firstDelayMs: 100, maxDelayMs: 1_000 };

describe('seedServers', () => {
  it('splits a comma-separated NATS_URL into the seed list, dropping blanks', () => {
    expect(seedServers('nats://a:4222, nats://b:4222 ,,nats://c:4222')).toEqual(['nats://a:4222', 'nats://b:4222', 'nats://c:4222']);
    expect(seedServers('nats://127.0.0.1:4222')).toEqual(['nats://127.0.0.1:4222']);
  });

  it('refuses a list with no server in it', () => {
    expect(() => seedServers(' , ')).toThrow(/names no server/);
  });
});

describe('clusterConnectOptions', () => {
  it('reconnects forever with jitter and pings often enough to find a half-open link in seconds', () => {
    const o = clusterConnectOptions('nats://a:1,nats://b:2');
    expect(o.servers).toEqual(['nats://a:1', 'nats://b:2']);
    expect(o.maxReconnectAttempts).toBe(-1);
    expect(o.reconnectJitter).toBeGreaterThan(0);
    expect(o.reconnectJitterTLS).toBeGreaterThanOrEqual(o.reconnectJitter);
    // A dead link is noticed after (maxPingOut + 1) ping intervals: well under the client's default 4 minutes.
    expect(o.pingInterval * (o.maxPingOut + 1)).toBeLessThanOrEqual(20_000);
    expect(o).toMatchObject({ pingInterval: CLIENT_DEFAULTS.pingIntervalMs, maxPingOut: CLIENT_DEFAULTS.maxPingOut });
  });

  it('takes other settings', () => {
    expect(clusterConnectOptions('nats://a:1', { pingIntervalMs: 1_000, reconnectJitterMs: 50 })).toMatchObject({ pingInterval: 1_000, reconnectJitter: 50, reconnectJitterTLS: 100 });
  });
});

describe('isRetryablePublishError', () => {
  it.each([
    ['a timeout', timeout()],
    ['no responders (a stream without a leader)', noResponders()],
    ['no responders, raw', new Error("no responders: 'lm.seg.x'")],
    ['JetStream temporarily unavailable', Object.assign(new Error('JetStream system temporarily unavailable'), { api_error: { err_code: 10008, code: 503 } })],
    ['a dropped connection', new Error('disconnected while publishing')],
  ])('retries %s', (_what, e) => expect(isRetryablePublishError(e)).toBe(true));

  it.each([
    ['a closed connection', Object.assign(new Error('closed connection'), { name: 'ClosedConnectionError' })],
    ['a full subject', new Error('maximum messages per subject exceeded')],
    ['a wrong expected sequence', new Error('wrong last sequence: 4')],
    ['a permissions violation', new Error("Permissions Violation for Publish to \"lm.seg.x\"")],
    ['nothing', undefined],
  ])('gives up on %s', (_what, e) => expect(isRetryablePublishError(e)).toBe(false));
});

describe('publishWithRetry', () => {
  it('tries again through a leader election and returns the ack', async () => {
    const clock = fakeClock();
    const errors = [noResponders(), timeout(), timeout()];
    const timeouts: number[] = [];
    const ack = await publishWithRetry(async (t) => {
      timeouts.push(t);
      const e = errors.shift();
      if (e) throw e;
      return 'ack';
    }, POLICY, clock);
    expect(ack).toBe('ack');
    expect(timeouts).toHaveLength(4);
    expect(timeouts.every((t) => t <= POLICY.attemptTimeoutMs)).toBe(true);
    // Backs off: each pause at least as long as the one before, none above the cap.
    expect(clock.slept).toEqual([...clock.slept].sort((a, b) => a - b));
    expect(Math.max(...clock.slept)).toBeLessThanOrEqual(POLICY.maxDelayMs);
  });

  it('rethrows a final refusal at once', async () => {
    const clock = fakeClock();
    let calls = 0;
    await expect(
      publishWithRetry(async () => {
        calls++;
        throw new Error('maximum messages per subject exceeded');
      }, POLICY, clock),
    ).rejects.toThrow(/per subject/);
    expect(calls).toBe(1);
  });

  it('gives up with the last error once the deadline has passed', async () => {
    const clock = fakeClock();
    let calls = 0;
    await expect(
      publishWithRetry(async () => {
        calls++;
        throw timeout();
      }, POLICY, clock),
    ).rejects.toThrow('timeout');
    expect(calls).toBeGreaterThan(3);
    expect(clock.now()).toBeLessThanOrEqual(POLICY.deadlineMs);
  });

  it('never waits past the deadline for one attempt', async () => {
    const clock = fakeClock();
    const timeouts: number[] = [];
    await expect(
      publishWithRetry(async (t) => {
        timeouts.push(t);
        throw timeout();
      }, { ...POLICY, deadlineMs: 2_000 }, clock),
    ).rejects.toThrow();
    expect(timeouts[0]).toBe(2_000);
  });
});
