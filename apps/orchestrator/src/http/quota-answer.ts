import type { QuotaExceededError } from '@livemesh/contracts';

/** The 429 body of a refused quota: which limit and the figures, so a client can tell "wait for a slot" from "ask for less". */
export function quotaAnswer(e: QuotaExceededError): { statusCode: 429; error: string; message: string; code: string; limit: string; current: number; max: number } {
  return { statusCode: 429, error: 'Too Many Requests', message: e.message, code: e.code, limit: e.limit, current: e.current, max: e.max };
}
