import { AUTOSCALE_DEFAULTS, type AutoscaleSettings } from '@livemesh/contracts';
import { initialAutoscaleState, recommendReplicas, type AutoscaleDecision, type AutoscaleState } from './autoscale.policy.js';

const settings = (over: Partial<AutoscaleSettings> = {}): AutoscaleSettings => ({ ...AUTOSCALE_DEFAULTS, enabled: true, keda: false, ...over });

/**
 * Runs the policy once a period over a lag series with a fake clock, applying each decision as the
 * orchestrator's loop does. Returns the replica count after each step and the decisions.
 */
function simulate(lags: (number | undefined)[], opts: { min?: number; max?: number; start?: number; s?: Partial<AutoscaleSettings>; operatorScaledAt?: number } = {}) {
  const s = settings(opts.s);
  const min = opts.min ?? 1;
  const max = opts.max ?? 10;
  let current = opts.start ?? 1;
  let state: AutoscaleState = initialAutoscaleState();
  const counts: number[] = [];
  const decisions: AutoscaleDecision[] = [];
  lags.forEach((lag, i) => {
    const now = i * s.periodSeconds * 1000;
    const r = recommendReplicas({ lag, ...(lag === undefined ? { error: 'timeout' } : {}), current, min, max, settings: s, now, ...(opts.operatorScaledAt === undefined ? {} : { operatorScaledAt: opts.operatorScaledAt }) }, state);
    state = r.state;
    current = r.decision.replicas;
    counts.push(current);
    decisions.push(r.decision);
  });
  const changes = counts.filter((c, i) => c !== (i === 0 ? (opts.start ?? 1) : counts[i - 1])).length;
  return { counts, decisions, changes };
}

describe('autoscale policy', () => {
  it('follows a step up at once (within the rate limit) and comes down one replica per period only after the stabilisation window', () => {
    // Period 15 s, window 300 s = 20 periods. Lag 100 for 10 periods, then 0.
    const { counts, changes } = simulate([...Array(10).fill(100), ...Array(40).fill(0)]);
    expect(counts[0]).toBe(5); // +4 pods or +100 %: max(2, 1 + 4) = 5
    expect(counts[1]).toBe(10); // desired 10, limit max(10, 9)
    expect(Math.max(...counts)).toBe(10);
    // The last lag-100 recommendation is at step 9: until it leaves the window (step 29), no removal.
    expect(counts.slice(10, 29)).toEqual(Array(19).fill(10));
    // Then one replica per period down to min 1.
    expect(counts.slice(29, 38)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(counts.at(-1)).toBe(1);
    expect(changes).toBe(2 + 9);
  });

  it('does not follow a one-period spike down before the window, and never leaves min/max', () => {
    const lags = [5, 5, 500, 5, ...Array(30).fill(5)];
    const { counts } = simulate(lags, { min: 2, max: 6 });
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...counts)).toBeLessThanOrEqual(6);
    expect(counts[0]).toBe(2); // clamped up to min
    expect(counts[2]).toBe(6); // spike: desired 50, clamped to max 6
    // Spike at step 2; the window keeps 6 until step 22, then one removal per period.
    expect(counts.slice(2, 22)).toEqual(Array(20).fill(6));
    expect(counts.slice(22, 27)).toEqual([5, 4, 3, 2, 2]);
  });

  it('a sawtooth faster than the window makes a bounded number of changes (no flapping)', () => {
    // Lag swings 0 <-> 80 every other period for 100 periods.
    const lags = Array.from({ length: 100 }, (_, i) => (i % 2 ? 80 : 0));
    const { counts, changes } = simulate(lags);
    // Up to 8 within two periods, then held there: the window always holds an 8.
    expect(Math.max(...counts)).toBe(8);
    expect(counts.slice(5)).toEqual(Array(95).fill(8));
    expect(changes).toBeLessThanOrEqual(2);
  });

  it('makes no change within the tolerance band', () => {
    // 3 replicas x target 10 = 30; 27..33 is within 10 %.
    const { counts, decisions } = simulate([28, 32, 30, 31, 27], { start: 3, s: { stabilisationSeconds: 0 } });
    expect(counts).toEqual([3, 3, 3, 3, 3]);
    expect(decisions.every((d) => d.direction === 'hold' && /within 10 %/.test(d.reason))).toBe(true);
    // Just outside it, it moves.
    expect(simulate([40], { start: 3 }).counts).toEqual([4]);
  });

  it('holds on metric errors, neither scaling up nor down', () => {
    const { counts, decisions } = simulate([undefined, undefined, 100, undefined, undefined], { start: 3, s: { stabilisationSeconds: 0 } });
    expect(counts).toEqual([3, 3, 7, 7, 7]);
    expect(decisions[0]).toMatchObject({ direction: 'hold', reason: expect.stringMatching(/metric unavailable \(timeout\)/) });
    expect(decisions[0]!.desired).toBeUndefined();
  });

  it('limits scale-up to once per period and to +100 % or +scaleUpPods', () => {
    const s = settings({ scaleUpPods: 1, periodSeconds: 10 });
    const r1 = recommendReplicas({ lag: 1000, current: 2, min: 1, max: 64, settings: s, now: 0 }, initialAutoscaleState());
    expect(r1.decision).toMatchObject({ direction: 'up', replicas: 4, desired: 64 });
    const r2 = recommendReplicas({ lag: 1000, current: 4, min: 1, max: 64, settings: s, now: 5000 }, r1.state);
    expect(r2.decision).toMatchObject({ direction: 'hold', replicas: 4 });
    const r3 = recommendReplicas({ lag: 1000, current: 4, min: 1, max: 64, settings: s, now: 10_000 }, r2.state);
    expect(r3.decision).toMatchObject({ direction: 'up', replicas: 8 });
  });

  it('never fights a KEDA-owned service or a recent operator scale', () => {
    expect(simulate([1000, 0], { start: 2, s: { keda: true } }).counts).toEqual([2, 2]);
    const pinned = simulate(Array(60).fill(100), { start: 2, operatorScaledAt: 0, s: { operatorHoldSeconds: 600 } });
    // Pinned for 600 s = 40 periods of 15 s, then it follows the lag.
    expect(pinned.counts.slice(0, 40)).toEqual(Array(40).fill(2));
    expect(pinned.decisions[0]!.reason).toMatch(/an operator set the count/);
    expect(pinned.counts.at(-1)).toBe(10);
  });
});
