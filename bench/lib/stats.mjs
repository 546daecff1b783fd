// Order statistics for the report: every figure is a median (or percentile) of raw samples that
// the JSON keeps beside it, with its spread.

/** The q-quantile (0..1) of the samples, linear between order statistics; undefined when empty. */
export function quantile(samples, q) {
  const xs = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const pos = (xs.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
}

export const median = (xs) => quantile(xs, 0.5);

/** Median, min, max and the interquartile range: how a figure spreads over runs. */
export function summary(xs) {
  const ok = xs.filter((x) => Number.isFinite(x));
  return {
    n: ok.length,
    median: median(ok),
    min: ok.length ? Math.min(...ok) : undefined,
    max: ok.length ? Math.max(...ok) : undefined,
    p25: quantile(ok, 0.25),
    p75: quantile(ok, 0.75),
  };
}

/** Least-squares slope and intercept of y over x. */
export function linearFit(xs, ys) {
  const n = xs.length;
  if (n < 2) return { slope: undefined, intercept: undefined };
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  return { slope, intercept: my - slope * mx };
}

export const round = (x, digits = 2) => (x === undefined || x === null || !Number.isFinite(x) ? x : Number(x.toFixed(digits)));
