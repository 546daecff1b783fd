import { resolve } from 'node:path';
import { busAuthFromEnv } from '@livemesh/bus';
import { splitList, type OrchestratorSettings, type WorkerEnvironment } from '@livemesh/contracts';
import { createDockerClient } from './docker.client.js';
import { BusHeartbeatSource } from './docker.heartbeats.js';
import type { ContainerLimits } from './docker.labels.js';
import { DockerRuntime } from './docker.runtime.js';
import { K8sRuntime } from './k8s.runtime.js';
import { ProcessRuntime } from './process.runtime.js';
import { appEntry } from './readiness.js';
import type { ContainerRuntime, RuntimeLogger } from './runtime.types.js';
import { SwarmRuntime } from './swarm.runtime.js';
import { WorkerBusRelay } from './worker.bus.relay.js';

/** The runtime named by LIVEMESH_RUNTIME. */
export function createRuntime(
  env: OrchestratorSettings,
  opts: {
    logger: RuntimeLogger;
    workerCredentials?: (service: string, workerId: string) => Promise<string>;
    serviceCredentials?: (service: string) => Promise<string>;
    /** The livemesh NATS account's public key (from NATS_ACCOUNT_SIGNER), for KEDA's /jsz lookup. */
    natsAccount?: string;
  },
): ContainerRuntime {
  switch (env.LIVEMESH_RUNTIME) {
    case 'k8s': {
      return new K8sRuntime({
        ...(env.LIVEMESH_KUBECONFIG ? { kubeconfig: env.LIVEMESH_KUBECONFIG } : {}),
        ...(env.LIVEMESH_K8S_NAMESPACE ? { namespace: env.LIVEMESH_K8S_NAMESPACE } : {}),
        // Pods reach NATS over the cluster network (the NATS Helm chart's Service), as NATS_URL names it.
        ...containerCommon(env, opts.logger),
        keda: { monitoringEndpoint: env.LIVEMESH_K8S_NATS_MONITORING, account: env.LIVEMESH_K8S_NATS_ACCOUNT ?? opts.natsAccount ?? '$G' },
        ...(opts.serviceCredentials ? { serviceCredentials: opts.serviceCredentials } : {}),
      });
    }
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
        ...containerCommon(env, opts.logger),
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

/** What every container runtime (docker, swarm, k8s) takes from the environment alike. */
function containerCommon(env: OrchestratorSettings, logger: RuntimeLogger) {
  return {
    env: containerWorkerEnv(env),
    defaultImage: env.LIVEMESH_WORKER_IMAGE,
    imageRegistries: splitList(env.LIVEMESH_IMAGE_REGISTRIES),
    limits: containerLimits(env),
    idleGraceMs: env.IDLE_GRACE_SECONDS * 1000,
    logger,
  };
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
