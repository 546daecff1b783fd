import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type FailureOutcome = 'retry' | 'dead-letter' | 'bad-segment' | 'drained';

/**
 * Prometheus metrics of one stage runner. Each runner has its own registry, so two stages in one
 * process (tests, a benchmark) do not collide on metric names.
 */
export class StageMetrics {
  readonly registry = new Registry();
  private readonly processed: Counter<'service'>;
  private readonly failed: Counter<'service' | 'outcome'>;
  private readonly seconds: Histogram<'service'>;
  private readonly inFlightGauge: Gauge<'service'>;
  private server?: Server;

  constructor(private readonly service: string) {
    this.processed = new Counter({
      name: 'livemesh_stage_segments_processed_total',
      help: 'Segments a stage processed and published.',
      labelNames: ['service'],
      registers: [this.registry],
    });
    this.failed = new Counter({
      name: 'livemesh_stage_segments_failed_total',
      help: 'Failed attempts, by what happened next (retry, dead-letter, bad-segment, drained).',
      labelNames: ['service', 'outcome'],
      registers: [this.registry],
    });
    this.seconds = new Histogram({
      name: 'livemesh_stage_processing_seconds',
      help: 'Time from pulling a segment to its ack, for segments that succeeded.',
      labelNames: ['service'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
      registers: [this.registry],
    });
    this.inFlightGauge = new Gauge({
      name: 'livemesh_stage_in_flight',
      help: 'Segments being processed right now.',
      labelNames: ['service'],
      registers: [this.registry],
    });
  }

  /** `service`: a stage fused into this runner's hop counts under its own name. */
  succeeded(seconds: number, service = this.service): void {
    this.processed.inc({ service });
    this.seconds.observe({ service }, seconds);
  }

  failedWith(outcome: FailureOutcome): void {
    this.failed.inc({ service: this.service, outcome });
  }

  inFlight(n: number): void {
    this.inFlightGauge.set({ service: this.service }, n);
  }

  /** Serves GET /metrics on host:port; resolves with the bound port (0 picks a free one). */
  async listen(host: string, port: number): Promise<number> {
    collectDefaultMetrics({ register: this.registry });
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
        this.registry
          .metrics()
          .then((body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body))
          .catch(() => res.writeHead(500).end());
      } else res.writeHead(404).end();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
