import type { AutoscaleSettings } from '@livemesh/contracts';

/**
 * The autoscaler's policy, pure: what a service's replica count should be, given its consumer lag.
 * Recommends like KEDA's AverageValue (desired = ceil(lag / target per replica)) and behaves like
 * the HPA: a tolerance band, a scale-up rate limit, a scale-down stabilisation window, at most one
 * replica removed per period, clamped to the service's min/max, and a hold on metric errors. It
 * never scales a KEDA-owned service, nor one an operator scaled within operatorHoldSeconds.
 * Time comes in as `now` (ms), so tests drive it with a fake clock. See docs/scaling.md.
 */
export interface AutoscaleInput {
  /** pending + ack-pending of the service's durable consumer; undefined when it could not be read. */
  lag: number | undefined;
  /** Why the lag could not be read (then the policy holds). */
  error?: string;
  /** Replicas running now. */
  current: number;
  min: number;
  max: number;
  settings: AutoscaleSettings;
  /** When an operator last set the count (POST /api/services/:name/scale), ms. */
  operatorScaledAt?: number;
  now: number;
}

/** What the policy remembers between evaluations of one service (start with `{ recommendations: [] }`). */
export interface AutoscaleState {
  /** Recent recommendations (clamped desired counts), oldest first, within the stabilisation window. */
  recommendations: { at: number; replicas: number }[];
  lastScaleUpAt?: number;
  lastScaleDownAt?: number;
}

export interface AutoscaleDecision {
  /** The recommended count: equal to `current` on a hold. */
  replicas: number;
  direction: 'up' | 'down' | 'hold';
  /** ceil(lag / target) within the tolerance band, clamped to min/max; undefined on a hold before any metric. */
  desired?: number;
  reason: string;
}

export const initialAutoscaleState = (): AutoscaleState => ({ recommendations: [] });

export function recommendReplicas(input: AutoscaleInput, state: AutoscaleState): { decision: AutoscaleDecision; state: AutoscaleState } {
  const { current, min, max, settings: s, now } = input;
  const hold = (reason: string, desired?: number, next: AutoscaleState = state) => ({ decision: { replicas: current, direction: 'hold' as const, reason, ...(desired === undefined ? {} : { desired }) }, state: next });
  if (s.keda) return hold('owned by KEDA: its ScaledObject scales this service');
  if (input.operatorScaledAt !== undefined && now - input.operatorScaledAt < s.operatorHoldSeconds * 1000) {
    return hold(`an operator set the count ${Math.round((now - input.operatorScaledAt) / 1000)} s ago; left alone for ${s.operatorHoldSeconds} s`);
  }
  if (input.lag === undefined || !Number.isFinite(input.lag) || input.lag < 0) return hold(`metric unavailable (${input.error ?? 'no lag'}): holding`);
  const lag = input.lag;

  let raw = Math.ceil(lag / s.targetLagPerReplica);
  let why = `lag ${lag} / target ${s.targetLagPerReplica} per replica = ${raw}`;
  if (current > 0 && Math.abs(lag / (current * s.targetLagPerReplica) - 1) <= s.tolerance) {
    raw = current;
    why = `lag ${lag} within ${Math.round(s.tolerance * 100)} % of ${current} x ${s.targetLagPerReplica}`;
  }
  const desired = clamp(raw, min, max);
  if (desired !== raw) why += `, clamped to ${desired} (min ${min}, max ${max})`;
  const windowMs = s.stabilisationSeconds * 1000;
  const recommendations = [...state.recommendations.filter((r) => now - r.at < windowMs), { at: now, replicas: desired }];
  const next: AutoscaleState = { ...state, recommendations };
  const periodMs = s.periodSeconds * 1000;

  // Outside the bounds (they changed, or someone else scaled): back inside at once.
  if (current < min || current > max) {
    const to = clamp(current, min, max);
    return { decision: { replicas: to, direction: to > current ? 'up' : 'down', desired, reason: `${current} is outside min ${min} / max ${max}` }, state: { ...next, ...(to > current ? { lastScaleUpAt: now } : { lastScaleDownAt: now }) } };
  }
  if (desired > current) {
    if (state.lastScaleUpAt !== undefined && now - state.lastScaleUpAt < periodMs) return hold(`${why}; scaled up less than ${s.periodSeconds} s ago`, desired, next);
    const limit = Math.max(Math.ceil(current * (1 + s.scaleUpPercent / 100)), current + s.scaleUpPods, current + 1);
    const to = Math.min(desired, limit);
    return { decision: { replicas: to, direction: 'up', desired, reason: to < desired ? `${why}; limited to ${to} this period` : why }, state: { ...next, lastScaleUpAt: now } };
  }
  if (desired < current) {
    const stable = Math.max(...recommendations.map((r) => r.replicas));
    if (stable >= current) return hold(`${why}; highest recommendation of the last ${s.stabilisationSeconds} s is ${stable}`, desired, next);
    if (state.lastScaleDownAt !== undefined && now - state.lastScaleDownAt < periodMs) return hold(`${why}; removed a replica less than ${s.periodSeconds} s ago`, desired, next);
    return { decision: { replicas: current - 1, direction: 'down', desired, reason: `${why}; one replica removed per period` }, state: { ...next, lastScaleDownAt: now } };
  }
  return hold(why, desired, next);
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));
