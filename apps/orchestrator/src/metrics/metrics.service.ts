import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { Bus, isNotFound } from '@livemesh/bus';
import { BUCKETS, STREAMS, consumers, isToken, type StreamState, type WorkerHeartbeat } from '@livemesh/contracts';
import { CatalogueService } from '../catalogue/catalogue.service.js';

const STATES: StreamState[] = ['starting', 'live', 'stopping', 'ended', 'failed'];

/**
 * The orchestrator's Prometheus metrics, in a registry of its own so several apps can share a
 * process (tests, the embedded mesh). Labels never carry a stream id: streams come and go, and
 * each would be a new series.
 */
@Injectable()
export class MetricsService {
  private readonly logger = new Logger(MetricsService.name);
  readonly registry = new Registry();
  readonly chainStarts: Counter<'source'>;
  readonly planFailures: Counter<'origin'>;
  readonly chainChanges: Counter;
  readonly autoscalerDesired: Gauge<'service'>;
  readonly autoscalerDecisions: Counter<'service' | 'direction'>;

  constructor(
    @Inject(Bus) bus: Bus,
    @Inject(CatalogueService) catalogue: CatalogueService,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'livemesh_orchestrator_' });
    this.chainStarts = new Counter({
      name: 'livemesh_chain_starts_total',
      help: 'Chains started, by where the start came from (http, platform).',
      labelNames: ['source'],
      registers: [this.registry],
    });
    this.planFailures = new Counter({
      name: 'livemesh_plan_failures_total',
      help: 'Start or change requests whose chain could not be planned.',
      labelNames: ['origin'],
      registers: [this.registry],
    });
    this.chainChanges = new Counter({
      name: 'livemesh_chain_changes_total',
      help: 'Chains of running streams replaced with a new version.',
      registers: [this.registry],
    });
    this.autoscalerDesired = new Gauge({
      name: 'livemesh_autoscaler_desired_replicas',
      help: "Replicas the autoscaler recommends for a service (its consumer lag over the target per replica, within min/max), at its last evaluation.",
      labelNames: ['service'],
      registers: [this.registry],
    });
    this.autoscalerDecisions = new Counter({
      name: 'livemesh_autoscaler_decisions_total',
      help: 'Autoscaler evaluations of a service, by outcome: up, down or hold.',
      labelNames: ['service', 'direction'],
      registers: [this.registry],
    });
    // collect() runs with the gauge as `this`; the constructor parameters stay in scope.
    const logger = this.logger;
    const streams = bus.store(BUCKETS.streams);
    new Gauge({
      name: 'livemesh_streams',
      help: 'Streams known to the orchestrator, by state.',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const counts = new Map<StreamState, number>(STATES.map((s) => [s, 0]));
        try {
          for (const e of await streams.list()) counts.set(e.value.state, (counts.get(e.value.state) ?? 0) + 1);
        } catch (e) {
          logger.warn(`cannot count streams: ${(e as Error).message}`);
        }
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    // One read of lm_workers serves the four per-service gauges of a scrape.
    const workers = bus.store(BUCKETS.workers);
    let beats: { at: number; list: Promise<WorkerHeartbeat[]> } | undefined;
    const heartbeats = (): Promise<WorkerHeartbeat[]> => {
      if (!beats || Date.now() - beats.at > 1000) {
        const list = workers.list().then(
          (entries) => entries.map((e) => e.value),
          (e: Error) => {
            logger.warn(`cannot read worker heartbeats: ${e.message}`);
            return [];
          },
        );
        beats = { at: Date.now(), list };
      }
      return beats.list;
    };
    const perService: [string, string, (h: WorkerHeartbeat) => number][] = [
      ['livemesh_service_workers', 'Workers of a service with a live heartbeat.', () => 1],
      ['livemesh_service_segments_processed', 'Segments the live workers of a service have processed since each started (a gauge: a replaced worker starts again at 0).', (h) => h.processed],
      ['livemesh_service_segments_failed', 'Segments the live workers of a service gave up on since each started.', (h) => h.failed],
      ['livemesh_service_segments_in_flight', 'Segments the workers of a service are processing now.', (h) => h.inFlight],
    ];
    for (const [name, help, value] of perService) {
      new Gauge({
        name,
        help,
        labelNames: ['service'],
        registers: [this.registry],
        async collect() {
          this.reset();
          const sums = new Map<string, number>();
          for (const h of await heartbeats()) {
            // A heartbeat is another process's writing: only a well-formed service name becomes a label.
            if (isToken(h.service)) sums.set(h.service, (sums.get(h.service) ?? 0) + (Number(value(h)) || 0));
          }
          for (const [service, n] of sums) this.set({ service }, n);
        },
      });
    }
    new Gauge({
      name: 'livemesh_consumer_pending_segments',
      help: "Segments waiting in a service's durable consumer (what autoscaling follows).",
      labelNames: ['service'],
      registers: [this.registry],
      async collect() {
        this.reset();
        let names: string[] = [];
        try {
          names = (await catalogue.listServices()).map((s) => s.name);
        } catch (e) {
          logger.warn(`cannot list services: ${(e as Error).message}`);
        }
        for (const service of names) {
          try {
            const info = await bus.consumerInfo(STREAMS.segments, consumers.service(service));
            this.set({ service }, info.pending);
          } catch (e) {
            // No consumer yet: no replica of the service ever started, so nothing can be waiting on it.
            if (!isNotFound(e)) logger.warn(`service=${service} cannot read consumer lag: ${(e as Error).message}`);
          }
        }
      },
    });
  }
}
