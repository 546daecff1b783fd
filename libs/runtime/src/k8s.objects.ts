import type { V1Deployment, V1EnvVar, V1Secret } from '@kubernetes/client-node';
import { STREAMS, autoscaleSettings, consumers, type ServiceSpec } from '@livemesh/contracts';
import { WORKER_CREDS_PATH } from './container.options.js';
import { hashOf, toEnvList, type ContainerLimits } from './docker.labels.js';
import { IMAGE_USER } from './image.base.js';

/**
 * The Kubernetes objects of one worker service (k8s runtime), as pure functions of what the runtime
 * decided, so every setting is unit-tested in one place (k8s.objects.spec.ts) and validated against
 * the Kubernetes and KEDA schemas. The hardening is the Docker workers' (container.options.ts):
 * non-root, read-only root filesystem with a tmpfs-like /tmp, every capability dropped, no
 * privilege escalation, CPU and memory limits, and no API token in the pod.
 */

/** Field managers of server-side apply: one per set of fields, so no apply drops another's fields. */
export const FIELD_MANAGERS = {
  /** The Deployment, Secret and ScaledObject as the catalogue describes them (never replicas nor bounds). */
  spec: 'livemesh-orchestrator',
  /** A KEDA-owned service's ScaledObject bounds (minReplicaCount, maxReplicaCount). */
  bounds: 'livemesh-orchestrator-bounds',
} as const;

/** Labels and annotations livemesh puts on its Kubernetes objects, besides the standard app.kubernetes.io/* ones. */
export const K8S_KEYS = {
  /** The livemesh service name (annotation: a service name may hold `_`, which a DNS name may not). */
  service: 'livemesh.io/service',
  /** Hash of what the pod template was made from (image, env, config, start parameters). */
  specHash: 'livemesh.io/spec-hash',
  managedBy: 'livemesh-orchestrator',
} as const;

export const KEDA_API_VERSION = 'keda.sh/v1alpha1';
export const SCALED_OBJECTS = { group: 'keda.sh', version: 'v1alpha1', plural: 'scaledobjects' } as const;

/** Where the service's credential Secret is mounted: its one key lands at WORKER_CREDS_PATH. */
const CREDS_DIR = WORKER_CREDS_PATH.slice(0, WORKER_CREDS_PATH.lastIndexOf('/'));
const CREDS_KEY = WORKER_CREDS_PATH.slice(CREDS_DIR.length + 1);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 label of at most 63 characters (RFC 1123, as Kubernetes checks names and label values). */
export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

/**
 * The one object name of a livemesh service's Deployment, Secret and ScaledObject: `lm-<service>`,
 * lower-cased with `_` as `-`. When that changed the name (or cut it), a hash of the real name
 * follows, so `Blur` and `blur` never share a Deployment. Short enough that pod names stay valid.
 */
export function k8sName(service: string): string {
  const plain = service.toLowerCase().replace(/_/g, '-');
  const trimmed = plain.replace(/^-+|-+$/g, '');
  if (trimmed === service && service.length <= 40) return `lm-${service}`;
  return `lm-${trimmed.slice(0, 32).replace(/-+$/, '')}${trimmed ? '-' : ''}${hashOf(service).slice(0, 8)}`;
}

/** The Secret of a service's NATS credential. */
export function credsSecretName(service: string): string {
  return `${k8sName(service)}-nats-creds`;
}

/** A label value from any string: Kubernetes allows [A-Za-z0-9_.-], at most 63, alphanumeric at both ends. */
function labelValue(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** The Deployment's selector: the app and the instance, as the recommended labels name them. */
export function selectorLabels(service: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'livemesh-worker', 'app.kubernetes.io/instance': k8sName(service) };
}

/** The recommended app.kubernetes.io/* labels of a service's objects. */
export function workerLabels(spec: Pick<ServiceSpec, 'name' | 'version'>): Record<string, string> {
  return {
    ...selectorLabels(spec.name),
    'app.kubernetes.io/version': labelValue(spec.version),
    'app.kubernetes.io/component': 'worker',
    'app.kubernetes.io/part-of': 'livemesh',
    'app.kubernetes.io/managed-by': K8S_KEYS.managedBy,
  };
}

/** The label selector (`key=value,...`) of one service's pods, or of every worker pod. */
export function podSelector(service?: string): string {
  const base = { 'app.kubernetes.io/name': 'livemesh-worker', 'app.kubernetes.io/managed-by': K8S_KEYS.managedBy, ...(service ? { 'app.kubernetes.io/instance': k8sName(service) } : {}) };
  return Object.entries(base)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export interface K8sWorker {
  spec: ServiceSpec;
  namespace: string;
  image: string;
  /** The worker's environment (workerEnvironment); LIVEMESH_WORKER_ID becomes the pod's name. */
  env: Record<string, string>;
  limits: Pick<ContainerLimits, 'memoryBytes' | 'nanoCpus'>;
  /** Grace a stopping worker gets to drain its segments, s. */
  stopGraceSeconds: number;
  /** Hash of image, env, config and start parameters (workloadLabels' spec hash). */
  specHash: string;
  /** The Secret with the service's NATS credential, when the bus has authentication. */
  credsSecret?: string;
  /** Secrets to pull images with (a private registry). */
  imagePullSecrets?: string[];
}

/** The pod's environment: the worker's own, its id from the pod's name, NATS_CREDS at the mounted Secret. */
function envVars(w: K8sWorker): V1EnvVar[] {
  const { LIVEMESH_WORKER_ID: _id, ...env } = w.env;
  const list: V1EnvVar[] = toEnvList({ ...env, ...(w.credsSecret ? { NATS_CREDS: WORKER_CREDS_PATH } : {}) }).map((kv) => {
    const at = kv.indexOf('=');
    return { name: kv.slice(0, at), value: kv.slice(at + 1) };
  });
  // The heartbeat's worker id is the pod's name, so `livemesh services` and kubectl agree.
  list.push({ name: 'LIVEMESH_WORKER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
  return list;
}

/**
 * The Deployment of one service, for server-side apply. No `replicas`: the count belongs to the
 * scale subresource (or to KEDA), so applying a new template never resets it. Rolling updates
 * start a new pod before stopping an old one (maxUnavailable 0), like the swarm runtime's.
 */
export function deploymentManifest(w: K8sWorker): V1Deployment {
  const name = k8sName(w.spec.name);
  const labels = workerLabels(w.spec);
  const annotations = { [K8S_KEYS.service]: w.spec.name, [K8S_KEYS.specHash]: w.specHash };
  const cpu = `${Math.round(w.limits.nanoCpus / 1_000_000)}m`;
  const memory = `${Math.round(w.limits.memoryBytes / (1024 * 1024))}Mi`;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: w.namespace, labels, annotations: { [K8S_KEYS.service]: w.spec.name } },
    spec: {
      selector: { matchLabels: selectorLabels(w.spec.name) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, annotations },
        spec: {
          // Workers never talk to the API server: no service-account token in the pod.
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: w.stopGraceSeconds,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: IMAGE_USER.uid,
            runAsGroup: IMAGE_USER.gid,
            fsGroup: IMAGE_USER.gid,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(w.imagePullSecrets?.length ? { imagePullSecrets: w.imagePullSecrets.map((n) => ({ name: n })) } : {}),
          containers: [
            {
              name: 'worker',
              image: w.image,
              env: envVars(w),
              securityContext: {
                runAsNonRoot: true,
                runAsUser: IMAGE_USER.uid,
                runAsGroup: IMAGE_USER.gid,
                allowPrivilegeEscalation: false,
                privileged: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              resources: { limits: { cpu, memory }, requests: { cpu, memory } },
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...(w.credsSecret ? [{ name: 'nats-creds', mountPath: CREDS_DIR, readOnly: true }] : [])],
            },
          ],
          volumes: [
            // The Docker workers' tmpfs /tmp (512 MiB), in memory and counted against the pod's limit.
            { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '512Mi' } },
            ...(w.credsSecret ? [{ name: 'nats-creds', secret: { secretName: w.credsSecret, defaultMode: 0o400, items: [{ key: CREDS_KEY, path: CREDS_KEY }] } }] : []),
          ],
        },
      },
    },
  };
}

/** The Secret holding the NATS credential every pod of one service shares (as the swarm runtime's Docker secret). */
export function credsSecretManifest(spec: Pick<ServiceSpec, 'name' | 'version'>, namespace: string, creds: Buffer): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: credsSecretName(spec.name), namespace, labels: workerLabels(spec), annotations: { [K8S_KEYS.service]: spec.name } },
    data: { [CREDS_KEY]: creds.toString('base64') },
  };
}

/** Where KEDA reads the lag: the NATS monitoring endpoint and the account the streams live in. */
export interface KedaNatsTarget {
  /** host:port of a NATS server's monitoring endpoint (the NATS Helm chart: `<release>.<namespace>.svc:8222`). */
  monitoringEndpoint: string;
  /** The account's id as /jsz lists it: `$G` without auth, the account's public key with JWT auth. */
  account: string;
}

/** A ScaledObject (keda.sh/v1alpha1); typed here as far as livemesh writes it. */
export interface ScaledObject {
  apiVersion: typeof KEDA_API_VERSION;
  kind: 'ScaledObject';
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    scaleTargetRef?: { apiVersion: string; kind: string; name: string };
    pollingInterval?: number;
    cooldownPeriod?: number;
    minReplicaCount?: number;
    maxReplicaCount?: number;
    advanced?: { horizontalPodAutoscalerConfig: { behavior: Record<string, unknown> } };
    triggers?: { type: string; metadata: Record<string, string> }[];
  };
}

/**
 * The ScaledObject of a KEDA-owned service, without its bounds (those are applied by their own
 * field manager, scaledObjectBounds). KEDA's nats-jetstream scaler reads the service's durable
 * consumer on LM_SEG from /jsz and scales to ceil((num_pending + num_ack_pending) / lagThreshold),
 * the recommendation the orchestrator's own autoscaler makes; the service's autoscale settings
 * become the HPA behaviour (scale-up rate, scale-down window, one pod removed per period).
 */
export function scaledObjectManifest(spec: ServiceSpec, namespace: string, nats: KedaNatsTarget): ScaledObject {
  const s = autoscaleSettings(spec);
  return {
    apiVersion: KEDA_API_VERSION,
    kind: 'ScaledObject',
    metadata: { name: k8sName(spec.name), namespace, labels: workerLabels(spec), annotations: { [K8S_KEYS.service]: spec.name } },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: k8sName(spec.name) },
      pollingInterval: s.periodSeconds,
      cooldownPeriod: Math.max(s.stabilisationSeconds, s.periodSeconds),
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: {
            scaleUp: {
              stabilizationWindowSeconds: 0,
              selectPolicy: 'Max',
              policies: [
                { type: 'Percent', value: Math.max(1, s.scaleUpPercent), periodSeconds: s.periodSeconds },
                { type: 'Pods', value: Math.max(1, s.scaleUpPods), periodSeconds: s.periodSeconds },
              ],
            },
            scaleDown: { stabilizationWindowSeconds: s.stabilisationSeconds, selectPolicy: 'Min', policies: [{ type: 'Pods', value: 1, periodSeconds: s.periodSeconds }] },
          },
        },
      },
      triggers: [
        {
          type: 'nats-jetstream',
          metadata: {
            natsServerMonitoringEndpoint: nats.monitoringEndpoint,
            accountID: nats.account,
            stream: STREAMS.segments,
            consumer: consumers.service(spec.name),
            lagThreshold: String(s.targetLagPerReplica),
            activationLagThreshold: '0',
          },
        },
      ],
    },
  };
}

/** The bounds of a KEDA-owned service, applied alone by FIELD_MANAGERS.bounds (the rest stays whoever's it is). */
export function scaledObjectBounds(service: string, namespace: string, min: number, max: number): ScaledObject {
  return { apiVersion: KEDA_API_VERSION, kind: 'ScaledObject', metadata: { name: k8sName(service), namespace }, spec: { minReplicaCount: min, maxReplicaCount: Math.max(min, max, 1) } };
}

/** The parts of nats-server's /jsz?consumers=true answer that KEDA's nats-jetstream scaler reads. */
export interface JszAnswer {
  account_details?: {
    id: string;
    name: string;
    stream_detail?: { name: string; consumer_detail?: { name: string; num_pending: number; num_ack_pending: number }[] }[];
  }[];
}

/**
 * The lag KEDA's nats-jetstream scaler computes from /jsz (pkg/scalers/nats_jetstream_scaler.go,
 * read for this, not copied): in the account whose id or name matches, the stream by name, the
 * consumer by name, num_pending + num_ack_pending. Undefined when any of them is missing (KEDA
 * then reports an error and scales nothing).
 */
export function kedaJetStreamLag(jsz: JszAnswer, target: { account: string; stream: string; consumer: string }): number | undefined {
  for (const acc of jsz.account_details ?? []) {
    if (acc.id !== target.account && acc.name !== target.account) continue;
    const consumer = acc.stream_detail?.find((st) => st.name === target.stream)?.consumer_detail?.find((c) => c.name === target.consumer);
    if (consumer) return consumer.num_pending + consumer.num_ack_pending;
  }
  return undefined;
}

/** The replicas an AverageValue metric target asks for (what the HPA makes of KEDA's metric): ceil(lag / threshold). */
export function kedaDesiredReplicas(lag: number, lagThreshold: number): number {
  return Math.ceil(lag / lagThreshold);
}
