import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * How far a stage runs behind real time, on the runner's /metrics: the age (since the cut at
 * ingest) of each segment when its work starts, the segments held for a turn, and the segments
 * dropped because they could no longer make their latency budget. A stage slower than real
 * time shows here as a growing age and a drop rate, never as a growing queue in memory.
 */
export class LiveMetrics {
  private readonly dropped: Counter<'service' | 'reason'>;
  private readonly age: Histogram<'service'>;
  private readonly lag: Gauge<'service'>;
  private readonly heldGauge: Gauge<'service'>;

  constructor(
    registry: Registry,
    private readonly service: string,
  ) {
    this.dropped = new Counter({
      name: 'livemesh_stage_segments_dropped_total',
      help: 'Segments dropped before any work was spent on them (late: past the latency budget).',
      labelNames: ['service', 'reason'],
      registers: [registry],
    });
    this.age = new Histogram({
      name: 'livemesh_stage_segment_age_seconds',
      help: 'Time from the cut at ingest to the start of work on a segment at this hop.',
      labelNames: ['service'],
      buckets: [0.25, 0.5, 1, 2, 4, 6, 8, 12, 16, 32, 64],
      registers: [registry],
    });
    this.lag = new Gauge({
      name: 'livemesh_stage_lag_seconds',
      help: 'Age (since the cut at ingest) of the last segment this runner started: how far behind live it works.',
      labelNames: ['service'],
      registers: [registry],
    });
    this.heldGauge = new Gauge({
      name: 'livemesh_stage_held_segments',
      help: 'Segments pulled and held for their turn (round-robin across streams), not yet started.',
      labelNames: ['service'],
      registers: [registry],
    });
  }

  droppedLate(): void {
    this.dropped.inc({ service: this.service, reason: 'late' });
  }

  started(ageMs: number): void {
    this.age.observe({ service: this.service }, ageMs / 1000);
    this.lag.set({ service: this.service }, ageMs / 1000);
  }

  held(n: number): void {
    this.heldGauge.set({ service: this.service }, n);
  }
}
