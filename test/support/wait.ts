// Waiting on a condition with a deadline, the one way e2e tests synchronise with the apps and the
// bus (docs/design.md, "Tests talk to real things": wait on a latch, never a sleep).

export interface WaitOptions {
  /** Pause between two checks, ms. Default 100. */
  intervalMs?: number;
  /**
   * A check that throws counts as "not yet" (a fetch before the server listens, a stream message
   * not stored yet), and the last error goes into the timeout message. Off by default: a check
   * throws on purpose to end the wait early (a dead letter where an output was expected).
   */
  retryErrors?: boolean;
  /** What was seen, appended to the timeout message (e.g. the apps' recent log lines). */
  detail?: () => string;
}

/** A check's answer: `undefined`, `null` or `false` mean "not yet"; anything else is the result. */
export type Waited<T> = T | undefined | null | false;

/**
 * Calls `check` until it answers something other than undefined, null or false, and resolves with
 * that; throws `timed out after <timeoutMs> ms waiting for <what>` once the deadline has passed.
 */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Waited<T> | Promise<Waited<T>>, options: WaitOptions = {}): Promise<T> {
  const { intervalMs = 100, retryErrors = false, detail } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    let v: Waited<T>;
    try {
      v = await check();
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
      v = undefined;
    }
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}${detail ? `:\n${detail()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
