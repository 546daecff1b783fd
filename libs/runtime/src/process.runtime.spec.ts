import { UnsafeServiceError, type ServiceSpec } from '@livemesh/contracts';
import { ProcessRuntime } from './process.runtime.js';

describe('ProcessRuntime', () => {
  it('refuses to start a service whose env the catalogue should never have held, before spawning anything', async () => {
    const logs: string[] = [];
    const logger = { log: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
    // The entry does not exist: a spawn attempt would show up as a start failure in the log.
    const runtime = new ProcessRuntime({ workerEntry: '/nonexistent/worker.js', env: {}, idleGraceMs: 1000, logger });
    const spec = { name: 'blur', version: '1.0.0', paramSchema: {}, input: 'segments', minReplicas: 0, maxReplicas: 2, env: { NODE_OPTIONS: '--require /tmp/x.js', LD_PRELOAD: '/tmp/x.so' } } as ServiceSpec;
    const scaled = runtime.scale(spec, 1);
    await expect(scaled).rejects.toThrow(UnsafeServiceError);
    await expect(scaled).rejects.toThrow(/env\.NODE_OPTIONS: .*env\.LD_PRELOAD: /);
    await expect(runtime.ensure({ service: spec, startParams: {} })).rejects.toThrow(UnsafeServiceError);
    expect(await runtime.list('blur')).toEqual([]);
    expect(logs).toEqual([]);
    await runtime.close();
  });
});
