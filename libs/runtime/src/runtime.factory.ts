import { resolve } from 'node:path';
import { busAuthFromEnv } from '@livemesh/bus';
import { splitList, type OrchestratorSettings, type WorkerEnvironment } from '@livemesh/contracts';
import { createDockerClient } from './docker.client.js';
import { BusHeartbeatSource } from './docker.heartbeats.js';
import type { ContainerLimits } from './docker.labels.js';
import { DockerRuntime } from './docker.runtime.js';
import { ProcessRuntime } from './process.runtime.js';
import { appEntry } from './readiness.js';
import type { ContainerRuntime, RuntimeLogger } from './runtime.types.js';
import { SwarmRuntime } from './swarm.runtime.js';
import { WorkerBusRelay } from './worker.bus.relay.js';

/** The runtime named by LIVEMESH_RUNTIME. */
export function createRuntime(
  env: OrchestratorSettings,
  opts: { logger: RuntimeLogger; workerCredentials?: (service: string, workerId: string) => Promise<string>; serviceCredentials?: (service: string) => Promise<string> },
): ContainerRuntime {
  switch (env.LIVEMESH_RUNTIME) {
    case 'process':
      return new ProcessRuntime({
        workerEntry: appEntry('worker'),
        env: {
          NATS_URL: env.NATS_URL,
          LOG_LEVEL: env.LOG_LEVEL,
          // The worker's loader holds LIVEMESH_STAGE_MODULE to the same rule the catalogue did.
          LIVEMESH_STAGE_DIR: resolve(env.LIVEMESH_STAGE_DIR),
          LIVEMESH_STAGE_PACKAGES: env.LIVEMESH_STAGE_PACKAGES,
        },
        idleGraceMs: env.IDLE_GRACE_SECONDS * 1000,
        logger: opts.logger,
        ...(opts.workerCredentials ? { workerCredentials: opts.workerCredentials } : {}),
      });
    case 'docker':
    case 'swarm': {
      const common = {
        docker: createDockerClient(env.DOCKER_HOST),
        env: containerWorkerEnv(env),
        defaultImage: env.LIVEMESH_WORKER_IMAGE,
        imageRegistries: splitList(env.LIVEMESH_IMAGE_REGISTRIES),
        limits: containerLimits(env),
        idleGraceMs: env.IDLE_GRACE_SECONDS * 1000,
        logger: opts.logger,
        heartbeats: new BusHeartbeatSource(env.NATS_URL, busAuthFromEnv(env)),
        network: env.WORKER_NETWORK,
      };
      if (env.LIVEMESH_RUNTIME === 'swarm') return new SwarmRuntime({ ...common, ...(opts.serviceCredentials ? { serviceCredentials: opts.serviceCredentials } : {}) });
      // No network: the bus through a socket the orchestrator serves (docs/security.md, "Containers").
      const busRelay = env.WORKER_NETWORK === 'none' ? new WorkerBusRelay({ dataDir: env.LIVEMESH_DATA_DIR, natsUrl: env.NATS_URL, logger: opts.logger }) : undefined;
      // Each worker gets its own NATS credential, mounted read-only (swarm: one per service, as a Docker secret; docs/security.md).
      return new DockerRuntime({ ...common, ...(busRelay ? { busRelay } : {}), ...(opts.workerCredentials ? { workerCredentials: opts.workerCredentials } : {}) });
    }
  }
}

/** What a worker in a container needs of the orchestrator's settings; the rest stays on the host. */
export function containerWorkerEnv(env: OrchestratorSettings): WorkerEnvironment {
  return {
    NATS_URL: env.NATS_URL,
    LOG_LEVEL: env.LOG_LEVEL,
    MEDIA_TIMEOUT_MS: String(env.MEDIA_TIMEOUT_MS),
    STAGE_MAX_ATTEMPTS: String(env.STAGE_MAX_ATTEMPTS),
    STAGE_CONCURRENCY: String(env.STAGE_CONCURRENCY),
    STAGE_ACK_WAIT_MS: String(env.STAGE_ACK_WAIT_MS),
    INLINE_LIMIT_BYTES: String(env.INLINE_LIMIT_BYTES),
    LIVEMESH_BIND: '127.0.0.1',
  };
}

export function containerLimits(env: Pick<OrchestratorSettings, 'WORKER_MEMORY_MB' | 'WORKER_MILLICPUS' | 'WORKER_PIDS_LIMIT'>): ContainerLimits {
  return { memoryBytes: env.WORKER_MEMORY_MB * 1024 * 1024, nanoCpus: env.WORKER_MILLICPUS * 1_000_000, pids: env.WORKER_PIDS_LIMIT };
}
