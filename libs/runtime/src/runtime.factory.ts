import { ConfigError, type Env } from '@livemesh/contracts';
import { ProcessRuntime } from './process.runtime.js';
import { appEntry } from './readiness.js';
import type { ContainerRuntime, RuntimeLogger } from './runtime.types.js';

/** The runtime named by LIVEMESH_RUNTIME. */
export function createRuntime(env: Env, opts: { logger: RuntimeLogger }): ContainerRuntime {
  switch (env.LIVEMESH_RUNTIME) {
    case 'process':
      return new ProcessRuntime({
        workerEntry: appEntry('worker'),
        env: { NATS_URL: env.NATS_URL, LIVEMESH_DATA_DIR: env.LIVEMESH_DATA_DIR, LOG_LEVEL: env.LOG_LEVEL },
        idleGraceMs: env.IDLE_GRACE_SECONDS * 1000,
        logger: opts.logger,
      });
    default:
      throw new ConfigError('environment is invalid', [
        `LIVEMESH_RUNTIME: "${env.LIVEMESH_RUNTIME}" is not available in this build yet; use "process"`,
      ]);
  }
}
