import { BusError, type BusErrorReason } from '@livemesh/contracts';

// JetStream API error codes (nats-server's errors.json) that mean "no such thing".
const NOT_FOUND_CODES = new Set([
  10059, // stream not found
  10014, // consumer not found
  10037, // no message found
]);

/**
 * Classifies a NATS client error into the cases callers tell apart. The server's wording is read
 * here and nowhere else: callers read `BusError.reason`.
 */
export function reasonOf(e: unknown): BusErrorReason | undefined {
  if (e instanceof BusError) return e.reason;
  const err = e as { name?: string; code?: unknown; message?: string; api_error?: { err_code?: number; description?: string } };
  const text = `${err?.message ?? ''} ${err?.api_error?.description ?? ''}`;
  if (err?.api_error?.err_code !== undefined && NOT_FOUND_CODES.has(err.api_error.err_code)) return 'not-found';
  if (/maximum messages per subject exceeded/i.test(text)) return 'subject-full';
  if (/maximum (messages|bytes) exceeded|insufficient resources|resource limits exceeded/i.test(text)) return 'stream-full';
  if (/not found|no message found/i.test(text)) return 'not-found';
  if (/wrong last sequence|key exists|already exists/i.test(text)) return 'conflict';
  if (/closed/i.test(text) || err?.name === 'ClosedConnectionError') return 'closed';
  if (/timeout|timed out/i.test(text) || err?.name === 'TimeoutError') return 'timeout';
  return undefined;
}

/** `e` as a BusError saying what was tried (a BusError passes through unchanged). */
export function toBusError(e: unknown, what: string): BusError {
  if (e instanceof BusError) return e;
  const reason = reasonOf(e);
  const message = e instanceof Error ? e.message : String(e);
  return new BusError(`${what}: ${message}`, { cause: e, ...(reason ? { reason } : {}) });
}

/** Runs a NATS call and rethrows whatever it throws as a BusError. */
export async function wrapped<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw toBusError(e, what);
  }
}

/** True when `e` (a BusError or a raw client error) says the thing does not exist. */
export function isNotFound(e: unknown): boolean {
  return reasonOf(e) === 'not-found';
}
