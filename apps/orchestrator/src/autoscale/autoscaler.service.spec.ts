import { BusError, type ScaleRecord, type ServiceSpec } from '@livemesh/contracts';
import type { Bus, ConsumerState } from '@livemesh/bus';
import type { ContainerRuntime, ServiceInstance } from '@livemesh/runtime';
import type { CatalogueService } from '../catalogue/catalogue.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { AutoscalerService } from './autoscaler.service.js';

// The loop's wiring around the pure policy, with our own interfaces faked at the edge: which
// services it evaluates, when it calls the runtime, what it publishes.
const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec =>
  ({ name: 'blur', version: '1.0.0', paramSchema: {}, input: 'segments', minReplicas: 1, maxReplicas: 5, autoscale: { enabled: true, targetLagPerReplica: 10, periodSeconds: 1, stabilisationSeconds: 0 }, ...over }) as ServiceSpec;

function setup(opts: { services: ServiceSpec[]; lag?: number | Error; replicas?: number; scales?: ScaleRecord[]; scaledExternally?: string }) {
  const scaled: [string, number][] = [];
  const published: { subject: string; body: unknown }[] = [];
  let replicas = opts.replicas ?? 1;
  const instances = (service: string): ServiceInstance[] => Array.from({ length: replicas }, (_, i) => ({ id: `${service}-${i}`, service, state: 'running', startedAt: '' }));
  const runtime = {
    list: async (service: string) => instances(service),
    scale: async (s: ServiceSpec, n: number) => {
      scaled.push([s.name, n]);
      replicas = n;
      return instances(s.name);
    },
    ...(opts.scaledExternally ? { scaledExternally: async () => opts.scaledExternally } : {}),
  } as unknown as ContainerRuntime;
  const bus = {
    consumerInfo: async () => {
      if (opts.lag instanceof Error) throw opts.lag;
      return { pending: opts.lag ?? 0, ackPending: 0 } as ConsumerState;
    },
    publish: async (subject: string, body: string) => {
      published.push({ subject, body: JSON.parse(body) });
      return { seq: 1, duplicate: false };
    },
    store: () => ({ list: async () => [] }),
  } as unknown as Bus;
  const catalogue = { listServices: async () => opts.services, listScales: async () => opts.scales ?? [] } as unknown as CatalogueService;
  const metrics = new MetricsService(bus, catalogue);
  return { loop: new AutoscalerService(bus, catalogue, runtime, metrics), scaled, published, metrics };
}

describe('AutoscalerService (the loop)', () => {
  it('scales an enabled service through the runtime and publishes the decision as a service event and metrics', async () => {
    const { loop, scaled, published, metrics } = setup({ services: [spec(), spec({ name: 'plain', autoscale: undefined })], lag: 35 });
    await loop.tick(1_000_000);
    expect(scaled).toEqual([['blur', 4]]);
    expect(published).toEqual([{ subject: 'lm.evt.service.blur.autoscaled', body: expect.objectContaining({ service: 'blur', kind: 'autoscaled', data: expect.objectContaining({ direction: 'up', from: 1, to: 4, lag: 35, desired: 4 }) }) }]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/livemesh_autoscaler_desired_replicas\{service="blur"\} 4/);
    expect(text).toMatch(/livemesh_autoscaler_decisions_total\{service="blur",direction="up"\} 1/);
    expect(text).not.toMatch(/livemesh_autoscaler_\w+\{service="plain"/);
    // Within the period: not evaluated again.
    await loop.tick(1_000_500);
    expect(scaled).toHaveLength(1);
  });

  it('holds on a metric error, for a KEDA-owned service, for a recent operator scale, and for a service with no replicas', async () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    const cases = [
      setup({ services: [spec()], lag: new BusError('info of consumer blur on LM_SEG timed out') }),
      setup({ services: [spec({ autoscale: { enabled: true, keda: true } })], lag: 500 }),
      // The runtime knows KEDA owns it (k8s: a ScaledObject in the namespace), though the catalogue does not say so.
      setup({ services: [spec()], lag: 500, scaledExternally: 'KEDA ScaledObject media/lm-blur' }),
      setup({ services: [spec()], lag: 500, scales: [{ service: 'blur', replicas: 1, updatedAt: '2026-01-01T00:05:00Z' }] }),
      setup({ services: [spec()], lag: 500, replicas: 0 }),
    ];
    for (const c of cases) {
      await c.loop.tick(now);
      expect(c.scaled).toEqual([]);
      expect(c.published).toEqual([]);
    }
    // The operator's hold (600 s) over: it follows the lag again.
    const after = setup({ services: [spec()], lag: 500, scales: [{ service: 'blur', replicas: 1, updatedAt: '2026-01-01T00:05:00Z' }] });
    await after.loop.tick(now + 301_000);
    expect(after.scaled).toEqual([['blur', 5]]);
  });
});
