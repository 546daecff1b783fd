import { readFile } from 'node:fs/promises';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { RuntimeError, ValidationFailedError, type ServiceSpec } from '@livemesh/contracts';
import { assertRunnable, pinnedImage, workerEnvironment, workloadLabels, LABELS } from './docker.labels.js';
import type { DockerRuntimeOptions } from './docker.runtime.js';
import {
  FIELD_MANAGERS,
  K8S_KEYS,
  SCALED_OBJECTS,
  credsSecretManifest,
  credsSecretName,
  deploymentManifest,
  k8sName,
  podSelector,
  scaledObjectBounds,
  scaledObjectManifest,
  type KedaNatsTarget,
} from './k8s.objects.js';
import { ReleaseTimers } from './release.timers.js';
import type { ContainerRuntime, ServiceInstance, StartInstruction } from './runtime.types.js';

/** The Docker runtime's settings that mean the same here (env, images, limits, idle grace, stop grace), and the cluster's. */
export type K8sRuntimeOptions = Pick<DockerRuntimeOptions, 'env' | 'defaultImage' | 'imageRegistries' | 'limits' | 'idleGraceMs' | 'logger' | 'stopGraceSeconds'> & {
  /** Where the API server is and how to reach it (in-cluster service account, or a kubeconfig). */
  kubeConfig: KubeConfig;
  /** The namespace of the workers; the orchestrator's Role grants it there alone. */
  namespace: string;
  /** Where KEDA reads the lag of a KEDA-owned service (its ScaledObject's trigger). */
  keda: KedaNatsTarget;
  /** Mints the NATS credential all pods of one service share; it reaches them as a Secret. */
  serviceCredentials?: (service: string) => Promise<string>;
  imagePullSecrets?: string[];
  /** How long ensure() and scale() wait for ready pods, ms. */
  convergeTimeoutMs?: number;
  pollMs?: number;
};

/** The runtime's own marker of who owns it: this process's owner label is not used on Kubernetes. */
const OWNER = 'k8s';

/**
 * Runs each livemesh service as one Kubernetes Deployment in one namespace (docs/scaling.md,
 * "Runtimes"). The Deployment is written by server-side apply (never with `replicas`), the count
 * through the scale subresource, so a template change never resets a count; Kubernetes replaces
 * dead pods and rolls a new template out pod by pod. The orchestrator needs only a namespaced
 * Role (deploy/k8s/rbac.yaml), not a Docker socket. A service KEDA owns (its catalogue entry's
 * `autoscale.keda`, or a ScaledObject of its name already in the namespace) is scaled by KEDA:
 * this runtime then edits the ScaledObject's bounds instead of the replica count, and tells the
 * orchestrator's autoscaler to keep out (scaledExternally).
 */
export class K8sRuntime implements ContainerRuntime {
  readonly kind = 'k8s' as const;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly specs = new Map<string, { spec: ServiceSpec; startParams: StartInstruction['startParams'] }>();
  private readonly releaseTimers = new ReleaseTimers();
  private readonly ns: string;

  constructor(private readonly opts: K8sRuntimeOptions) {
    this.apps = opts.kubeConfig.makeApiClient(AppsV1Api);
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
    this.ns = opts.namespace;
  }

  async ensure(instr: StartInstruction): Promise<{ instance: ServiceInstance; reused: boolean }> {
    const spec = instr.service;
    assertRunnable(spec, this.opts);
    this.releaseTimers.cancel(spec.name);
    this.specs.set(spec.name, { spec, startParams: instr.startParams });
    const existing = await this.readDeployment(spec.name);
    const changed = existing?.spec?.template?.metadata?.annotations?.[K8S_KEYS.specHash] !== this.specHash(spec, instr.startParams);
    if (changed) await this.apply(spec, instr.startParams, !existing);
    const keda = await this.kedaOwned(spec);
    const replicas = existing?.spec?.replicas ?? 1;
    if (keda) {
      // KEDA may have the service at zero; a stream needs one pod now.
      const so = await this.readScaledObject(spec.name);
      const min = Number(so?.spec?.minReplicaCount ?? 0);
      if (!so || min < 1) await this.applyBounds(spec.name, Math.max(1, spec.minReplicas), Number(so?.spec?.maxReplicaCount ?? spec.maxReplicas));
    } else if (!existing || replicas < 1 || replicas < spec.minReplicas) {
      await this.setReplicas(spec.name, Math.max(replicas, 1, spec.minReplicas));
    }
    const running = (await this.list(spec.name)).find((i) => i.state === 'running');
    if (running && existing && !changed) {
      this.opts.logger.log(`service=${spec.name} reusing deployment ${k8sName(spec.name)} (${replicas} replica(s))`);
      return { instance: running, reused: true };
    }
    return { instance: (await this.converge(spec.name, 1))[0]!, reused: !!existing };
  }

  async scale(service: ServiceSpec, replicas: number): Promise<ServiceInstance[]> {
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > service.maxReplicas) {
      throw new ValidationFailedError(`cannot scale ${service.name}`, [`replicas: must be an integer from 0 to ${service.maxReplicas} (the service's maxReplicas)`]);
    }
    assertRunnable(service, this.opts);
    const known = this.specs.get(service.name);
    const startParams = known?.startParams ?? service.startParams ?? {};
    this.specs.set(service.name, { spec: service, startParams });
    const existing = await this.readDeployment(service.name);
    if (!existing) await this.apply(service, startParams, true);
    if (await this.kedaOwned(service)) {
      // KEDA owns the count: pin it by the bounds (min = max = replicas; 0 lets KEDA go to zero when idle).
      await this.applyBounds(service.name, replicas, replicas);
      this.opts.logger.log(`service=${service.name} KEDA-owned: ScaledObject bounds set to ${replicas}..${Math.max(replicas, 1)}`);
    } else {
      await this.setReplicas(service.name, replicas);
      this.opts.logger.log(`service=${service.name} scaling to ${replicas} pod(s)`);
    }
    return this.converge(service.name, replicas);
  }

  async list(service?: string): Promise<ServiceInstance[]> {
    const pods = await this.call(`list pods of ${service ?? 'every service'}`, () => this.core.listNamespacedPod({ namespace: this.ns, labelSelector: podSelector(service) }));
    return pods.items.map((p) => podView(p)).filter((v): v is ServiceInstance => v !== undefined);
  }

  async release(service: string): Promise<void> {
    const known = this.specs.get(service);
    if (!known) return;
    const { spec } = known;
    this.releaseTimers.schedule(service, this.opts.idleGraceMs, () => {
      this.opts.logger.log(`service=${service} idle for ${this.opts.idleGraceMs} ms: keeping ${spec.minReplicas} pod(s)`);
      void (async () => {
        // KEDA-owned: back to the catalogue's bounds (KEDA may then go to zero when the consumer is idle).
        if (await this.kedaOwned(spec)) await this.applyBounds(service, spec.minReplicas, spec.maxReplicas);
        else await this.setReplicas(service, spec.minReplicas);
      })().catch((e: Error) => this.opts.logger.error(`service=${service} reclaim failed: ${e.message}`));
    });
  }

  /** The Deployments stay: they belong to the namespace, and the next orchestrator adopts them. */
  async close(): Promise<void> {
    this.releaseTimers.clear();
  }

  /** KEDA scales the service: the orchestrator's autoscaler must keep out. */
  async scaledExternally(service: ServiceSpec): Promise<string | undefined> {
    return (await this.kedaOwned(service)) ? `KEDA ScaledObject ${this.ns}/${k8sName(service.name)}` : undefined;
  }

  private async kedaOwned(spec: ServiceSpec): Promise<boolean> {
    if (spec.autoscale?.keda) return true;
    return (await this.readScaledObject(spec.name)) !== undefined;
  }

  /** Server-side apply of the Secret (when creating, or when the template changes), the Deployment, and the ScaledObject of a KEDA service. */
  private async apply(spec: ServiceSpec, startParams: StartInstruction['startParams'], creating: boolean): Promise<void> {
    const name = k8sName(spec.name);
    const image = pinnedImage(spec, this.opts.defaultImage);
    let credsSecret: string | undefined;
    if (this.opts.serviceCredentials) {
      credsSecret = credsSecretName(spec.name);
      const creds = await readFile(await this.opts.serviceCredentials(spec.name));
      await this.call(`apply secret ${credsSecret}`, () =>
        this.core.patchNamespacedSecret({ name: credsSecret!, namespace: this.ns, body: credsSecretManifest(spec, this.ns, creds), fieldManager: FIELD_MANAGERS.spec, force: true }, APPLY),
      );
    }
    const body = deploymentManifest({
      spec,
      namespace: this.ns,
      image,
      env: workerEnvironment(spec, startParams, this.opts.env, ''),
      limits: this.opts.limits,
      stopGraceSeconds: this.opts.stopGraceSeconds ?? 15,
      specHash: this.specHash(spec, startParams),
      ...(credsSecret ? { credsSecret } : {}),
      ...(this.opts.imagePullSecrets ? { imagePullSecrets: this.opts.imagePullSecrets } : {}),
    });
    this.opts.logger.log(`service=${spec.name} ${creating ? 'creating' : 'rolling out'} deployment ${name} version ${spec.version} (${image})`);
    await this.call(`apply deployment ${name}`, () => this.apps.patchNamespacedDeployment({ name, namespace: this.ns, body, fieldManager: FIELD_MANAGERS.spec, force: true }, APPLY));
    if (spec.autoscale?.keda) {
      await this.call(`apply scaledobject ${name}`, () =>
        this.custom.patchNamespacedCustomObject(
          { ...SCALED_OBJECTS, namespace: this.ns, name, body: scaledObjectManifest(spec, this.ns, this.opts.keda), fieldManager: FIELD_MANAGERS.spec, force: true },
          APPLY,
        ),
      );
      if (creating) await this.applyBounds(spec.name, Math.max(1, spec.minReplicas), spec.maxReplicas);
    }
  }

  private async applyBounds(service: string, min: number, max: number): Promise<void> {
    const name = k8sName(service);
    await this.call(`apply bounds of scaledobject ${name}`, () =>
      this.custom.patchNamespacedCustomObject({ ...SCALED_OBJECTS, namespace: this.ns, name, body: scaledObjectBounds(service, this.ns, min, max), fieldManager: FIELD_MANAGERS.bounds, force: true }, APPLY),
    );
  }

  /** PATCH of the scale subresource: the count alone. */
  private async setReplicas(service: string, replicas: number): Promise<void> {
    const name = k8sName(service);
    await this.call(`scale deployment ${name}`, () => this.apps.patchNamespacedDeploymentScale({ name, namespace: this.ns, body: { spec: { replicas } } }, MERGE));
  }

  private async readDeployment(service: string): Promise<V1Deployment | undefined> {
    const name = k8sName(service);
    return this.orNone(() => this.apps.readNamespacedDeployment({ name, namespace: this.ns }), `read deployment ${name}`);
  }

  private async readScaledObject(service: string): Promise<{ spec?: { minReplicaCount?: number; maxReplicaCount?: number } } | undefined> {
    const name = k8sName(service);
    // 404 also when KEDA is not installed (no such resource): then no service is KEDA-owned.
    return this.orNone(() => this.custom.getNamespacedCustomObject({ ...SCALED_OBJECTS, namespace: this.ns, name }) as Promise<{ spec?: { minReplicaCount?: number; maxReplicaCount?: number } }>, `read scaledobject ${name}`);
  }

  /** Waits until `replicas` pods of the service are ready (or, for 0, none is left), or says why not. */
  private async converge(service: string, replicas: number): Promise<ServiceInstance[]> {
    const timeout = this.opts.convergeTimeoutMs ?? 120_000;
    const deadline = Date.now() + timeout;
    let last: ServiceInstance[] = [];
    for (;;) {
      last = (await this.list(service)).filter((i) => i.state !== 'exited');
      const ready = last.filter((i) => i.state === 'running');
      if (replicas === 0 ? last.length === 0 : ready.length >= replicas) return replicas === 0 ? [] : ready;
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, this.opts.pollMs ?? 500));
    }
    const why = last.map((i) => i.detail?.reason).filter(Boolean).slice(0, 3).join('; ');
    throw new RuntimeError(`service ${service}: ${replicas} ready pod(s) not reached after ${timeout} ms (${last.length} pod(s)${why ? `: ${why}` : ''})`);
  }

  private specHash(spec: ServiceSpec, startParams: StartInstruction['startParams']): string {
    return workloadLabels(spec, pinnedImage(spec, this.opts.defaultImage), startParams, OWNER)[LABELS.specHash]!;
  }

  private async orNone<T>(fn: () => Promise<T>, what: string): Promise<T | undefined> {
    try {
      return await fn();
    } catch (e) {
      if ((e as { code?: number }).code === 404) return undefined;
      throw apiError(what, e);
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw apiError(what, e);
    }
  }
}

const APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The API server's own message (a Status object) when there is one. */
function apiError(what: string, e: unknown): RuntimeError {
  const err = e as { code?: number; body?: unknown; message?: string };
  let detail = err.message ?? String(e);
  if (typeof err.body === 'string') {
    try {
      detail = (JSON.parse(err.body) as { message?: string }).message ?? detail;
    } catch {
      detail = err.body || detail;
    }
  } else if (err.body && typeof err.body === 'object' && 'message' in err.body) detail = String((err.body as { message: unknown }).message);
  return new RuntimeError(`kubernetes: ${what} failed${err.code ? ` (${err.code})` : ''}: ${detail}`, { cause: e });
}

/** A pod as a ServiceInstance: ready pods run, pending ones start, finished or deleted ones have exited. */
function podView(p: V1Pod): ServiceInstance | undefined {
  const service = p.metadata?.annotations?.[K8S_KEYS.service];
  const name = p.metadata?.name;
  if (!service || !name) return undefined;
  const phase = p.status?.phase ?? 'Unknown';
  const ready = p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const waiting = p.status?.containerStatuses?.[0]?.state?.waiting;
  const state: ServiceInstance['state'] = p.metadata?.deletionTimestamp || phase === 'Succeeded' || phase === 'Failed' ? 'exited' : phase === 'Running' && ready ? 'running' : 'starting';
  const detail: Record<string, string | number> = {
    pod: name,
    node: p.spec?.nodeName ?? '',
    phase,
    image: p.spec?.containers?.[0]?.image ?? '',
    restarts: p.status?.containerStatuses?.[0]?.restartCount ?? 0,
  };
  if (waiting?.reason) detail.reason = `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
  const started = p.status?.startTime ?? p.metadata?.creationTimestamp;
  return { id: name, service, state, startedAt: started ? new Date(started).toISOString() : new Date(0).toISOString(), detail };
}
