import { readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import type { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, V1Deployment, V1Pod, setHeaderOptions } from '@kubernetes/client-node';
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
  /** A kubeconfig file (LIVEMESH_KUBECONFIG); unset: the in-cluster service account, else KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /**
   * The namespace of the workers; the orchestrator's Role grants it there alone. Unset: the
   * orchestrator pod's own (its service account's), else the kubeconfig context's, else `default`.
   */
  namespace?: string;
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
  /** The API clients, made on first use: @kubernetes/client-node takes seconds to load, and only this runtime needs it. */
  private kubeApi?: Promise<Kube>;
  private readonly specs = new Map<string, { spec: ServiceSpec; startParams: StartInstruction['startParams'] }>();
  private readonly releaseTimers = new ReleaseTimers();

  constructor(private readonly opts: K8sRuntimeOptions) {}

  private kube(): Promise<Kube> {
    this.kubeApi ??= connect(this.opts);
    // A failed load is tried again on the next call.
    this.kubeApi.catch(() => (this.kubeApi = undefined));
    return this.kubeApi;
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
    const pods = await this.call(`list pods of ${service ?? 'every service'}`, (k) => k.core.listNamespacedPod({ namespace: k.ns, labelSelector: podSelector(service) }));
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
    return (await this.kedaOwned(service)) ? `KEDA ScaledObject ${(await this.kube()).ns}/${k8sName(service.name)}` : undefined;
  }

  private async kedaOwned(spec: ServiceSpec): Promise<boolean> {
    if (spec.autoscale?.keda) return true;
    return (await this.readScaledObject(spec.name)) !== undefined;
  }

  /** Server-side apply of the Secret (when creating, or when the template changes), the Deployment, and the ScaledObject of a KEDA service. */
  private async apply(spec: ServiceSpec, startParams: StartInstruction['startParams'], creating: boolean): Promise<void> {
    const name = k8sName(spec.name);
    const image = pinnedImage(spec, this.opts.defaultImage);
    const { ns } = await this.kube();
    let credsSecret: string | undefined;
    if (this.opts.serviceCredentials) {
      credsSecret = credsSecretName(spec.name);
      const creds = await readFile(await this.opts.serviceCredentials(spec.name));
      await this.call(`apply secret ${credsSecret}`, (k) =>
        k.core.patchNamespacedSecret({ name: credsSecret!, namespace: ns, body: credsSecretManifest(spec, ns, creds), fieldManager: FIELD_MANAGERS.spec, force: true }, k.apply),
      );
    }
    const body = deploymentManifest({
      spec,
      namespace: ns,
      image,
      env: workerEnvironment(spec, startParams, this.opts.env, ''),
      limits: this.opts.limits,
      stopGraceSeconds: this.opts.stopGraceSeconds ?? 15,
      specHash: this.specHash(spec, startParams),
      ...(credsSecret ? { credsSecret } : {}),
      ...(this.opts.imagePullSecrets ? { imagePullSecrets: this.opts.imagePullSecrets } : {}),
    });
    this.opts.logger.log(`service=${spec.name} ${creating ? 'creating' : 'rolling out'} deployment ${name} version ${spec.version} (${image})`);
    await this.call(`apply deployment ${name}`, (k) => k.apps.patchNamespacedDeployment({ name, namespace: ns, body, fieldManager: FIELD_MANAGERS.spec, force: true }, k.apply));
    if (spec.autoscale?.keda) {
      await this.call(`apply scaledobject ${name}`, (k) =>
        k.custom.patchNamespacedCustomObject({ ...SCALED_OBJECTS, namespace: ns, name, body: scaledObjectManifest(spec, ns, this.opts.keda), fieldManager: FIELD_MANAGERS.spec, force: true }, k.apply),
      );
      if (creating) await this.applyBounds(spec.name, Math.max(1, spec.minReplicas), spec.maxReplicas);
    }
  }

  private async applyBounds(service: string, min: number, max: number): Promise<void> {
    const name = k8sName(service);
    await this.call(`apply bounds of scaledobject ${name}`, (k) =>
      k.custom.patchNamespacedCustomObject({ ...SCALED_OBJECTS, namespace: k.ns, name, body: scaledObjectBounds(service, k.ns, min, max), fieldManager: FIELD_MANAGERS.bounds, force: true }, k.apply),
    );
  }

  /** PATCH of the scale subresource: the count alone. */
  private async setReplicas(service: string, replicas: number): Promise<void> {
    const name = k8sName(service);
    await this.call(`scale deployment ${name}`, (k) => k.apps.patchNamespacedDeploymentScale({ name, namespace: k.ns, body: { spec: { replicas } } }, k.merge));
  }

  private async readDeployment(service: string): Promise<V1Deployment | undefined> {
    const name = k8sName(service);
    return this.orNone((k) => k.apps.readNamespacedDeployment({ name, namespace: k.ns }), `read deployment ${name}`);
  }

  private async readScaledObject(service: string): Promise<{ spec?: { minReplicaCount?: number; maxReplicaCount?: number } } | undefined> {
    const name = k8sName(service);
    // 404 also when KEDA is not installed (no such resource): then no service is KEDA-owned.
    return this.orNone((k) => k.custom.getNamespacedCustomObject({ ...SCALED_OBJECTS, namespace: k.ns, name }) as Promise<{ spec?: { minReplicaCount?: number; maxReplicaCount?: number } }>, `read scaledobject ${name}`);
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

  private async orNone<T>(fn: (k: Kube) => Promise<T>, what: string): Promise<T | undefined> {
    const k = await this.kube();
    try {
      return await fn(k);
    } catch (e) {
      if ((e as { code?: number }).code === 404) return undefined;
      throw apiError(what, e);
    }
  }

  private async call<T>(what: string, fn: (k: Kube) => Promise<T>): Promise<T> {
    const k = await this.kube();
    try {
      return await fn(k);
    } catch (e) {
      throw apiError(what, e);
    }
  }
}

/** The API clients and the namespace, once loaded. */
interface Kube {
  apps: AppsV1Api;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  ns: string;
  /** Request options of server-side apply and of a merge patch (the Content-Type header). */
  apply: ReturnType<typeof setHeaderOptions>;
  merge: ReturnType<typeof setHeaderOptions>;
}

async function connect(opts: Pick<K8sRuntimeOptions, 'kubeconfig' | 'namespace'>): Promise<Kube> {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  if (opts.kubeconfig) config.loadFromFile(opts.kubeconfig);
  else config.loadFromDefault();
  return {
    apps: config.makeApiClient(k8s.AppsV1Api),
    core: config.makeApiClient(k8s.CoreV1Api),
    custom: config.makeApiClient(k8s.CustomObjectsApi),
    ns: opts.namespace ?? defaultNamespace(config),
    apply: k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
    merge: k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  };
}

/** The in-cluster service account's namespace file (present in every pod that mounts its token). */
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The orchestrator pod's own namespace, else the kubeconfig context's, else `default`. */
function defaultNamespace(config: KubeConfig): string {
  if (existsSync(SERVICE_ACCOUNT_NAMESPACE)) return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  return config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
}

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
