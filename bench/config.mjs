// Scenario sizes. The full run fits in 10 minutes on a 2-core machine; BENCH_QUICK=1 shrinks
// everything to check that the benchmark works (its figures mean little). BENCH_ONLY=s1,s2 runs a
// subset. The benchmark is a script, not an app: it reads its own knobs here.
const quick = process.env.BENCH_QUICK === '1';
const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);

export const config = {
  quick,
  only,
  /** Runs of scenarios 1 and 2 (medians and spread over them). */
  runs: quick ? 1 : 3,
  /** Seconds of 720p media generated (scenario 2 processes all of it). */
  mediaSeconds: quick ? 8 : 60,
  // Object-store hops are slow (tens to hundreds of ms each), so they get fewer segments.
  s1: { hops: 4, sizesMb: quick ? [0.5, 1] : [0.5, 1, 2, 4], warmup: quick ? 2 : 3, segments: quick ? 8 : 20, objectStoreSegments: quick ? 4 : 10 },
  s3: {
    /** Capture-to-output bound a stream must stay under to count (the 9 s target). */
    boundMs: 9_000,
    passthrough: { levels: quick ? [1, 4] : [1, 4, 16, 64], segmentsPerStream: quick ? 3 : 4, concurrency: 4, replicas: 2 },
    /** The default chain as planned (fused, default engine); compareUnfusedCli adds the old way's ramp. */
    defaultChain: { levels: quick ? [1, 2] : [1, 2, 3, 4, 5, 6, 7, 8], segmentsPerStream: quick ? 3 : 6, concurrency: 2, compareUnfusedCli: true },
    /** One ffmpeg per stream at 1x: seconds each level runs. */
    ffmpegLevelSeconds: quick ? 4 : 8,
    ffmpegMaxStreams: quick ? 4 : 16,
  },
  s4: { replicas: quick ? [1, 2] : [1, 2, 4], segments: quick ? 4 : 16 },
  s5: { cold: quick ? 1 : 3, warm: quick ? 2 : 3 },
  /**
   * Warm ffmpeg vs one per segment: `segments` (capped at the media's) back to back, `runs` times;
   * `latencySegments` fed one at a time (each followed by a wait until ffmpeg is quiet for
   * `quietMs`, at most `boundMs`), also the PSNR sample.
   */
  warm: { segments: quick ? 4 : 20, runs: quick ? 1 : 2, latencySegments: quick ? 4 : 10, quietMs: 300, boundMs: 10_000 },
  /**
   * Worker memory: `segments` through each worker; the engine run's segments come from a small
   * generated clip of that many segments (`engineClip`), a continuous timeline.
   */
  memory: { segments: quick ? 120 : 900, inFlight: 16, sampleEvery: quick ? 10 : 25, warmup: quick ? 20 : 150, engineClip: { width: 320, height: 180, fps: 10 } },
};

export function enabled(name) {
  return only.length === 0 || only.includes(name);
}
