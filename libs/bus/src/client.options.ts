// How a livemesh client talks to a NATS cluster: the seed list it connects through, how it
// reconnects, how it notices a link that died without closing, and how a publish outlives a
// leader election. Pure, so the choices are unit-tested without a server.

/** What the client does on a cluster, with livemesh's defaults (docs/scaling.md, "A NATS cluster"). */
export interface ClientTuning {
  /**
   * Ping the server this often, ms. A link that died without a FIN (a server SIGKILLed behind a
   * NAT or a dead host: half-open) shows as `maxPingOut` unanswered pings, so it is given up after
   * about pingIntervalMs x (maxPingOut + 1) instead of the client's default 2 minutes x 2.
   */
  pingIntervalMs: number;
  /** Unanswered pings before the connection counts as dead and the client reconnects. */
  maxPingOut: number;
  /** Pause between reconnect attempts to the same server, ms. */
  reconnectTimeWaitMs: number;
  /**
   * Random extra pause per reconnect attempt, 0..this ms (TLS: twice it). When a server goes down,
   * every client it held reconnects at once: the jitter spreads them over the other servers' time.
   */
  reconnectJitterMs: number;
}

export const CLIENT_DEFAULTS: ClientTuning = {
  pingIntervalMs: 5_000,
  maxPingOut: 2,
  reconnectTimeWaitMs: 500,
  reconnectJitterMs: 500,
};

/**
 * The seed servers of a NATS_URL: comma-separated, blanks and empty entries dropped. The client
 * tries them in random order (so a fleet does not pile onto the first) and learns the rest of the
 * cluster from the server it reaches.
 */
export function seedServers(url: string): string[] {
  const servers = url
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (servers.length === 0) throw new Error(`NATS_URL names no server: "${url}"`);
  return servers;
}

/** The nats.js connection options for `url` and `tuning` (reconnecting forever). */
export function clusterConnectOptions(url: string, tuning: Partial<ClientTuning> = {}) {
  const t = { ...CLIENT_DEFAULTS, ...tuning };
  return {
    servers: seedServers(url),
    maxReconnectAttempts: -1,
    reconnectTimeWait: t.reconnectTimeWaitMs,
    reconnectJitter: t.reconnectJitterMs,
    reconnectJitterTLS: t.reconnectJitterMs * 2,
    pingInterval: t.pingIntervalMs,
    maxPingOut: t.maxPingOut,
  };
}

/** How long and how often a publish with a message id is tried again. */
export interface PublishRetryPolicy {
  /** Give up once this long has passed since the first attempt, ms. */
  deadlineMs: number;
  /** One attempt waits this long for the stream's ack, ms (less when the deadline is closer). */
  attemptTimeoutMs: number;
  /** Pause after the first failed attempt, ms; doubles each time up to maxDelayMs, with jitter. */
  firstDelayMs: number;
  maxDelayMs: number;
}

/**
 * 20 s covers a JetStream leader election (nats-server waits 4 to 9 s before it calls one) plus
 * the new leader catching up, with room for a loaded machine.
 */
export const PUBLISH_RETRY_DEFAULTS: PublishRetryPolicy = {
  deadlineMs: 20_000,
  attemptTimeoutMs: 5_000,
  firstDelayMs: 100,
  maxDelayMs: 1_000,
};

/**
 * Whether a failed publish may be tried again: the stream did not answer (timeout), no server
 * answers for its subject yet (no responders: a stream without a leader, a restarted server still
 * recovering), JetStream is briefly unavailable, or the connection dropped under it. A refusal
 * (limits, a wrong expected sequence, permissions) and a closed connection are final.
 */
export function isRetryablePublishError(e: unknown): boolean {
  const err = e as { name?: string; message?: string; code?: unknown; api_error?: { err_code?: number; code?: number } } | undefined;
  if (!err) return false;
  if (err.name === 'ClosedConnectionError' || err.name === 'DrainingConnectionError') return false;
  if (err.api_error?.err_code === 10008 || err.api_error?.code === 503) return true; // JetStream system temporarily unavailable
  const text = `${err.name ?? ''} ${err.message ?? ''}`;
  if (/closed connection|connection draining/i.test(text)) return false;
  return /timeout|timed out|no responders|jetstream is not enabled|temporarily unavailable|disconnect|reconnect|connection (lost|refused|reset)|stream is offline/i.test(text);
}

export interface RetryClock {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

const REAL_CLOCK: RetryClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  random: () => Math.random(),
};

/**
 * Runs `attempt` (given the ack timeout to use) until it succeeds, fails for good, or the deadline
 * passes; then rethrows the last error. Only for publishes that carry a Nats-Msg-Id: a publish
 * whose ack was lost may have been stored, and the id makes the server drop the second copy.
 */
export async function publishWithRetry<T>(
  attempt: (timeoutMs: number) => Promise<T>,
  policy: PublishRetryPolicy = PUBLISH_RETRY_DEFAULTS,
  clock: RetryClock = REAL_CLOCK,
): Promise<T> {
  const start = clock.now();
  let delay = policy.firstDelayMs;
  for (;;) {
    const left = policy.deadlineMs - (clock.now() - start);
    try {
      return await attempt(Math.max(1, Math.min(policy.attemptTimeoutMs, left)));
    } catch (e) {
      if (!isRetryablePublishError(e)) throw e;
      // Full jitter on the upper half: clients that failed together do not come back together.
      const pause = Math.round(delay / 2 + (clock.random() * delay) / 2);
      if (clock.now() - start + pause >= policy.deadlineMs) throw e;
      await clock.sleep(pause);
      delay = Math.min(policy.maxDelayMs, delay * 2);
    }
  }
}
