import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Bus, publishJson } from '@livemesh/bus';
import { STREAMS, autoscaleSettings, consumers, subjects, type ServiceEvent, type ServiceSpec } from '@livemesh/contracts';
import { initialAutoscaleState, recommendReplicas, type AutoscaleState, type ContainerRuntime } from '@livemesh/runtime';
import { CatalogueService } from '../catalogue/catalogue.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { CONTAINER_RUNTIME } from '../runtime/runtime.tokens.js';

/** How often the loop looks for a service whose period is up, ms. */
const TICK_MS = 1000;
/** With no service autoscaled, the catalogue is read this often instead (a newly enabled one waits at most this long). */
const IDLE_MS = 5000;

/**
 * The autoscaling loop (docs/scaling.md, "Autoscaling"). For each service with `autoscale.enabled`
 * that has running replicas, once per its period: reads the lag of its durable consumer (pending
 * + ack-pending, from the consumer leader), runs the pure policy (libs/runtime autoscale.policy),
 * and when the count changes, scales through the runtime, the path the scale API takes. Removal
 * drains: the runtimes stop a replica with SIGTERM and the worker finishes or hands back what it
 * holds. Its own changes are not recorded as an operator's scale (lm_catalogue `scale.<name>`);
 * an operator's scale pins the count for `operatorHoldSeconds`. Decisions are `autoscaled`
 * service events and metrics.
 */
@Injectable()
export class AutoscalerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AutoscalerService.name);
  private readonly states = new Map<string, AutoscaleState & { evaluatedAt: number }>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private idleUntil = 0;

  constructor(
    @Inject(Bus) private readonly bus: Bus,
    @Inject(CatalogueService) private readonly catalogue: CatalogueService,
    @Inject(CONTAINER_RUNTIME) private readonly runtime: ContainerRuntime,
    @Inject(MetricsService) private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      // One pass at a time: a slow bus must not stack evaluations.
      this.running ??= this.tick()
        .catch((e: Error) => this.logger.warn(`autoscaler pass failed: ${e.message}`))
        .finally(() => (this.running = undefined));
    }, TICK_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over the catalogue; each service is evaluated when its period is up. */
  async tick(now = Date.now()): Promise<void> {
    if (now < this.idleUntil) return;
    const services = (await this.catalogue.listServices()).filter((s) => s.autoscale?.enabled);
    const names = new Set(services.map((s) => s.name));
    for (const name of this.states.keys()) if (!names.has(name)) this.states.delete(name);
    if (!services.length) {
      this.idleUntil = now + IDLE_MS;
      return;
    }
    const scales = new Map((await this.catalogue.listScales()).map((r) => [r.service, Date.parse(r.updatedAt)]));
    for (const spec of services) {
      const prev = this.states.get(spec.name);
      if (prev && now - prev.evaluatedAt < autoscaleSettings(spec).periodSeconds * 1000) continue;
      try {
        await this.evaluate(spec, now, scales.get(spec.name));
      } catch (e) {
        this.logger.warn(`service=${spec.name} autoscaling failed: ${(e as Error).message}`);
      }
    }
  }

  private async evaluate(spec: ServiceSpec, now: number, operatorScaledAt: number | undefined): Promise<void> {
    // A KEDA-owned service (k8s runtime: a ScaledObject in its namespace) is KEDA's to scale.
    const external = await this.runtime.scaledExternally?.(spec);
    const settings = { ...autoscaleSettings(spec), ...(external ? { keda: true } : {}) };
    const state = this.states.get(spec.name) ?? { ...initialAutoscaleState(), evaluatedAt: 0 };
    const current = (await this.runtime.list(spec.name)).filter((i) => i.state !== 'exited').length;
    // Not running: no stream uses it; starting it is ensure()'s job and stopping it release()'s.
    if (current === 0) {
      this.states.set(spec.name, { ...state, evaluatedAt: now });
      return;
    }
    let lag: number | undefined;
    let error: string | undefined;
    try {
      const info = await this.bus.consumerInfo(STREAMS.segments, consumers.service(spec.name));
      lag = info.pending + info.ackPending;
    } catch (e) {
      error = (e as Error).message;
    }
    const { decision, state: next } = recommendReplicas(
      { lag, ...(error ? { error } : {}), current, min: spec.minReplicas, max: spec.maxReplicas, settings, now, ...(operatorScaledAt === undefined || Number.isNaN(operatorScaledAt) ? {} : { operatorScaledAt }) },
      state,
    );
    this.states.set(spec.name, { ...next, evaluatedAt: now });
    if (decision.desired !== undefined) this.metrics.autoscalerDesired.set({ service: spec.name }, decision.desired);
    this.metrics.autoscalerDecisions.inc({ service: spec.name, direction: decision.direction });
    if (decision.direction === 'hold') {
      if (error) this.logger.warn(`service=${spec.name} autoscaler holds at ${current}: ${decision.reason}`);
      return;
    }
    const instances = await this.runtime.scale(spec, decision.replicas);
    this.logger.log(`service=${spec.name} autoscaled ${decision.direction} ${current} -> ${instances.length} (lag ${lag}): ${decision.reason}`);
    const event: ServiceEvent = {
      service: spec.name,
      kind: 'autoscaled',
      at: new Date().toISOString(),
      message: decision.reason,
      data: { direction: decision.direction, from: current, to: decision.replicas, lag: lag ?? 0, desired: decision.desired ?? decision.replicas, reason: decision.reason },
    };
    await publishJson(this.bus, subjects.serviceEvent(spec.name, 'autoscaled'), event).catch((e: Error) => this.logger.warn(`service=${spec.name} autoscaled event not published: ${e.message}`));
  }
}
