// The public door of @livemesh/runtime: where service containers run, and the local supervisor.
export type { ContainerRuntime, RuntimeLogger, ServiceInstance, StartInstruction } from './runtime.types.js';
export { ProcessRuntime, type ProcessRuntimeOptions } from './process.runtime.js';
export { containerLimits, containerWorkerEnv, createRuntime } from './runtime.factory.js';
export { K8sRuntime, type K8sRuntimeOptions } from './k8s.runtime.js';
export {
  FIELD_MANAGERS,
  K8S_KEYS,
  KEDA_API_VERSION,
  credsSecretManifest,
  credsSecretName,
  deploymentManifest,
  isDns1123Label,
  k8sName,
  kedaDesiredReplicas,
  kedaJetStreamLag,
  podSelector,
  scaledObjectBounds,
  scaledObjectManifest,
  selectorLabels,
  workerLabels,
  type JszAnswer,
  type K8sWorker,
  type KedaNatsTarget,
  type ScaledObject,
} from './k8s.objects.js';
export { DEFAULT_RESTART_POLICY, Supervisor, restartDelay, type ChildSpec, type RestartPolicy } from './supervisor.js';
export { appEntry, waitForHttp, waitForTcp } from './readiness.js';
export { ADMIN_TOKEN_FILE, adminTokenPath, ensureAdminTokenFile, readAdminTokenFile } from './admin-token.js';
export { createDockerClient, followProgress, type ProgressSink } from './docker.client.js';
export { LABELS, pinnedImage, type ContainerLimits } from './docker.labels.js';
export { DockerRuntime, type DockerRuntimeOptions } from './docker.runtime.js';
export { BUS_MOUNT, DEFAULT_WORKER_NETWORK, RELAYED_NATS_URL, WORKER_CREDS_PATH, containerCreateOptions, swarmNetworkOf, swarmTaskTemplate, type SwarmCredsSecret, type SwarmWorker, type WorkerContainer } from './container.options.js';
export { WorkerBusRelay } from './worker.bus.relay.js';
export { SwarmRuntime, swarmServiceName, type SwarmRuntimeOptions } from './swarm.runtime.js';
export { BusHeartbeatSource, type HeartbeatSource } from './docker.heartbeats.js';
export { DEFAULT_BASE_IMAGE, IMAGE_USER, ensureBaseImage, imageExists, type BaseImageOptions } from './image.base.js';
export {
  APP_IMAGES,
  BASE_IMAGES,
  appImageTag,
  buildAppImage,
  buildServiceImage,
  pushImage,
  serviceImageTag,
  type AppImageOptions,
  type AppName,
  type ServiceImageOptions,
} from './image.builder.js';
export { IMAGE_ENGINE_PATH } from './image.base.js';
export { initialAutoscaleState, recommendReplicas, type AutoscaleDecision, type AutoscaleInput, type AutoscaleState } from './autoscale.policy.js';
export { buildNatsImage, natsImageTag, parseNatsServerVersion, type NatsImageOptions } from './image.nats.js';
