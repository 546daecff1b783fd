import { HttpException } from '@nestjs/common';
import { BusError, LivemeshError } from '@livemesh/contracts';

/**
 * Whether a platform event's failure is final: retrying cannot help (invalid request, unplannable
 * chain, refused source URL, unknown stream or pipeline, a conflict, a runtime that cannot start a
 * service). The bus being unavailable and anything unexpected are worth a short retry.
 */
export function isFinalFailure(e: unknown): boolean {
  if (e instanceof BusError) return false;
  if (e instanceof LivemeshError) return true;
  if (e instanceof HttpException) return e.getStatus() < 500;
  return false;
}

/** What a platform event's handling ended with after its bounded retries. */
export class EventGaveUp extends Error {
  constructor(
    readonly reason: unknown,
    readonly attempts: number,
    readonly final: boolean,
  ) {
    super(reason instanceof Error ? reason.message : String(reason));
  }
}

export interface RetryBudget {
  /** No attempt starts later than this after the first, ms. */
  budgetMs: number;
  /** Pause before the second attempt, doubled after each, ms. */
  firstDelayMs: number;
}

export const PLATFORM_EVENT_RETRY: RetryBudget = { budgetMs: 4000, firstDelayMs: 250 };

/** Runs `work` once, and again with back-off while its failure is not final and the budget lasts. */
export async function withBoundedRetries<T>(work: () => Promise<T>, budget: RetryBudget = PLATFORM_EVENT_RETRY): Promise<T> {
  const deadline = Date.now() + budget.budgetMs;
  let delay = budget.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      const final = isFinalFailure(e);
      if (final || Date.now() + delay > deadline) throw new EventGaveUp(e, attempt, final);
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}
