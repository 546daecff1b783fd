import { UnsafeServiceError, type ServiceSpec } from '@livemesh/contracts';
import { LABELS, assertRunnable, hashOf, heartbeatHealth, pinnedImage, stableJson, workerEnvironment, workloadLabels } from './docker.labels.js';

const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec =>
  ({ name: 'pixelate', version: '1.0.0', paramSchema: { type: 'object', additionalProperties: false }, input: 'segments', minReplicas: 0, maxReplicas: 4, ...over }) as ServiceSpec;

describe('docker labels', () => {
  it('hashes objects independently of key order', () => {
    expect(stableJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    expect(hashOf({ a: 1, b: 2 })).toBe(hashOf({ b: 2, a: 1 }));
  });

  it('changes the spec hash when image, env, config or start parameters change, not the owner', () => {
    const base = workloadLabels(spec(), 'img:1', {}, 'owner-a')[LABELS.specHash];
    expect(workloadLabels(spec(), 'img:1', {}, 'owner-b')[LABELS.specHash]).toBe(base);
    expect(workloadLabels(spec(), 'img:2', {}, 'owner-a')[LABELS.specHash]).not.toBe(base);
    expect(workloadLabels(spec({ env: { A: '1' } }), 'img:1', {}, 'owner-a')[LABELS.specHash]).not.toBe(base);
    expect(workloadLabels(spec({ config: { k: 1 } }), 'img:1', {}, 'owner-a')[LABELS.specHash]).not.toBe(base);
    expect(workloadLabels(spec(), 'img:1', { gpu: true }, 'owner-a')[LABELS.specHash]).not.toBe(base);
  });

  it('pins a pushed image by its digest and leaves the others alone', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(pinnedImage(spec({ run: { image: '127.0.0.1:5000/livemesh/pixelate:1.0.0', digest } }), 'w')).toBe(`127.0.0.1:5000/livemesh/pixelate@${digest}`);
    expect(pinnedImage(spec({ run: { image: '127.0.0.1:5000/livemesh/pixelate' , digest } }), 'w')).toBe(`127.0.0.1:5000/livemesh/pixelate@${digest}`);
    expect(pinnedImage(spec(), 'livemesh/worker:0.1.0')).toBe('livemesh/worker:0.1.0');
  });

  it('gives the worker the start instruction, the service environment over the runtime one, and no host module path', () => {
    const env = workerEnvironment(spec({ env: { LOG_LEVEL: 'debug' }, config: { a: 1 }, run: { module: '/host/path.js' } }), { p: 1 }, { NATS_URL: 'nats://127.0.0.1:4222', LOG_LEVEL: 'log' }, 'lm-pixelate-1');
    expect(env).toEqual({
      NATS_URL: 'nats://127.0.0.1:4222',
      LOG_LEVEL: 'debug',
      LIVEMESH_SERVICE: 'pixelate',
      LIVEMESH_WORKER_ID: 'lm-pixelate-1',
      LIVEMESH_START_PARAMS: '{"p":1}',
      LIVEMESH_SERVICE_CONFIG: '{"a":1}',
    });
  });

  it('judges a worker by the age of its heartbeat', () => {
    expect(heartbeatHealth(undefined, 30_000)).toEqual({ state: 'starting', health: 'no-heartbeat' });
    expect(heartbeatHealth(1_000, 30_000)).toEqual({ state: 'running', health: 'healthy' });
    expect(heartbeatHealth(60_000, 30_000)).toEqual({ state: 'running', health: 'stale-heartbeat' });
  });
});

describe('assertRunnable', () => {
  const base = { name: 'blur', version: '1.0.0', paramSchema: {}, input: 'segments', minReplicas: 0, maxReplicas: 1 } as ServiceSpec;
  const opts = { defaultImage: 'livemesh/worker:0.1.0', imageRegistries: ['127.0.0.1:5000'] };

  it('lets an allowed image and env through', () => {
    expect(() => assertRunnable({ ...base, run: { image: '127.0.0.1:5000/livemesh/blur:1.0.0' }, env: { BLUR_NOTE: 'x' } }, opts)).not.toThrow();
    expect(() => assertRunnable(base, opts)).not.toThrow();
  });

  it('refuses what a catalogue entry written straight into the bucket could carry', () => {
    expect(() => assertRunnable({ ...base, env: { LD_PRELOAD: '/tmp/x.so' } }, opts)).toThrow(UnsafeServiceError);
    expect(() => assertRunnable({ ...base, env: { NATS_URL: 'nats://evil:4222' } }, opts)).toThrow(/env\.NATS_URL: is a livemesh setting/);
    expect(() => assertRunnable({ ...base, run: { image: 'docker.io/evil/miner' } }, opts)).toThrow(/registry "docker\.io" is not in LIVEMESH_IMAGE_REGISTRIES/);
    expect(() => assertRunnable({ ...base, run: { image: 'evil/miner' } }, opts)).toThrow(/does not list "local"/);
  });
});
