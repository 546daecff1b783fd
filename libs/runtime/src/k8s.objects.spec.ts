import type { ServiceSpec } from '@livemesh/contracts';
import {
  credsSecretManifest,
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
  type K8sWorker,
} from './k8s.objects.js';

// The Kubernetes objects of a worker service, field by field. Their validity against the
// Kubernetes and KEDA schemas and the strict pass is checked in test/e2e/k8s-runtime.e2e-spec.ts.
const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({ name: 'blur', version: '1.2.0', paramSchema: {}, input: 'segments', minReplicas: 0, maxReplicas: 4, ...over }) as ServiceSpec;
const worker = (over: Partial<K8sWorker> = {}): K8sWorker => ({
  spec: spec(),
  namespace: 'media',
  image: 'registry.example/blur@sha256:abc',
  env: { NATS_URL: 'nats://nats:4222', LIVEMESH_SERVICE: 'blur', LIVEMESH_WORKER_ID: '' },
  limits: { memoryBytes: 1024 * 1024 * 1024, nanoCpus: 1_500_000_000 },
  stopGraceSeconds: 15,
  specHash: 'h1',
  ...over,
});

describe('k8s object names', () => {
  it('are DNS-1123 labels for every service name the catalogue allows, distinct where the names differ', () => {
    const names = ['blur', 'Blur', 'my_filter', 'my-filter', '_x_', '-', 'A'.repeat(64), `${'a'.repeat(63)}b`, 'x9'];
    const made = names.map(k8sName);
    for (const n of made) {
      expect({ n, ok: isDns1123Label(n) && isDns1123Label(`${n}-nats-creds`) && n.length <= 50 }).toEqual({ n, ok: true });
    }
    expect(new Set(made).size).toBe(names.length);
    // A name that is already one keeps its plain form, so kubectl users find it.
    expect(k8sName('blur')).toBe('lm-blur');
    expect(k8sName('my_filter')).toMatch(/^lm-my-filter-[0-9a-f]{8}$/);
  });

  it('labels: the recommended app.kubernetes.io set, a label-safe version, a selector inside them', () => {
    const labels = workerLabels(spec({ version: '1.2.0+build.7' }));
    expect(labels).toEqual({
      'app.kubernetes.io/name': 'livemesh-worker',
      'app.kubernetes.io/instance': 'lm-blur',
      'app.kubernetes.io/version': '1.2.0_build.7',
      'app.kubernetes.io/component': 'worker',
      'app.kubernetes.io/part-of': 'livemesh',
      'app.kubernetes.io/managed-by': 'livemesh-orchestrator',
    });
    expect(labels).toMatchObject(selectorLabels('blur'));
    expect(podSelector('blur')).toBe('app.kubernetes.io/name=livemesh-worker,app.kubernetes.io/managed-by=livemesh-orchestrator,app.kubernetes.io/instance=lm-blur');
    expect(podSelector()).toBe('app.kubernetes.io/name=livemesh-worker,app.kubernetes.io/managed-by=livemesh-orchestrator');
  });
});

describe('deploymentManifest', () => {
  it('carries the Docker workers’ hardening: non-root, read-only root, no capabilities, no privilege escalation, no API token', () => {
    const d = deploymentManifest(worker());
    const pod = d.spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.resources).toEqual({ limits: { cpu: '1500m', memory: '1024Mi' }, requests: { cpu: '1500m', memory: '1024Mi' } });
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(pod.volumes).toEqual([{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '512Mi' } }]);
    expect(pod.terminationGracePeriodSeconds).toBe(15);
  });

  it('has no replicas (the scale subresource owns them), a selector matching its pods, and rolls new-before-old', () => {
    const d = deploymentManifest(worker());
    expect(d.spec!.replicas).toBeUndefined();
    expect(d.spec!.template.metadata!.labels).toMatchObject(d.spec!.selector.matchLabels!);
    expect(d.spec!.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(d.metadata).toMatchObject({ name: 'lm-blur', namespace: 'media', annotations: { 'livemesh.io/service': 'blur' } });
    expect(d.spec!.template.metadata!.annotations).toEqual({ 'livemesh.io/service': 'blur', 'livemesh.io/spec-hash': 'h1' });
  });

  it('names each worker by its pod and mounts the service’s credential Secret read-only for the image user alone', () => {
    const d = deploymentManifest(worker({ credsSecret: 'lm-blur-nats-creds', imagePullSecrets: ['regcred'] }));
    const pod = d.spec!.template.spec!;
    const env = pod.containers[0]!.env!;
    expect(env.filter((e) => e.name === 'LIVEMESH_WORKER_ID')).toEqual([{ name: 'LIVEMESH_WORKER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]);
    expect(env).toContainEqual({ name: 'NATS_CREDS', value: '/run/livemesh/nats.creds' });
    expect(env).toContainEqual({ name: 'NATS_URL', value: 'nats://nats:4222' });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({ name: 'nats-creds', mountPath: '/run/livemesh', readOnly: true });
    expect(pod.volumes).toContainEqual({ name: 'nats-creds', secret: { secretName: 'lm-blur-nats-creds', defaultMode: 0o400, items: [{ key: 'nats.creds', path: 'nats.creds' }] } });
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
  });

  it('the credential Secret holds the file under the key the volume maps', () => {
    const s = credsSecretManifest(spec(), 'media', Buffer.from('creds'));
    expect(s).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'lm-blur-nats-creds', namespace: 'media' }, data: { 'nats.creds': Buffer.from('creds').toString('base64') } });
  });
});

describe('KEDA', () => {
  const nats = { monitoringEndpoint: 'nats-headless.nats.svc.cluster.local:8222', account: 'ABC' };

  it('the ScaledObject: nats-jetstream on the service’s consumer, lagThreshold = targetLagPerReplica, the autoscale settings as HPA behaviour, no bounds', () => {
    const so = scaledObjectManifest(spec({ autoscale: { enabled: true, keda: true, targetLagPerReplica: 7, periodSeconds: 10, stabilisationSeconds: 120, scaleUpPercent: 50, scaleUpPods: 2 } }), 'media', nats);
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'lm-blur' });
    expect(so.spec.triggers).toEqual([{ type: 'nats-jetstream', metadata: { natsServerMonitoringEndpoint: nats.monitoringEndpoint, accountID: 'ABC', stream: 'LM_SEG', consumer: 'svc_blur', lagThreshold: '7', activationLagThreshold: '0' } }]);
    expect(so.spec.pollingInterval).toBe(10);
    expect(so.spec.advanced!.horizontalPodAutoscalerConfig.behavior).toEqual({
      scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 50, periodSeconds: 10 }, { type: 'Pods', value: 2, periodSeconds: 10 }] },
      scaleDown: { stabilizationWindowSeconds: 120, selectPolicy: 'Min', policies: [{ type: 'Pods', value: 1, periodSeconds: 10 }] },
    });
    expect(so.spec.minReplicaCount).toBeUndefined();
    expect(so.spec.maxReplicaCount).toBeUndefined();
  });

  it('bounds alone, max never below min nor below 1', () => {
    expect(scaledObjectBounds('blur', 'media', 3, 8)).toEqual({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'lm-blur', namespace: 'media' }, spec: { minReplicaCount: 3, maxReplicaCount: 8 } });
    expect(scaledObjectBounds('blur', 'media', 5, 5).spec).toEqual({ minReplicaCount: 5, maxReplicaCount: 5 });
    expect(scaledObjectBounds('blur', 'media', 0, 0).spec).toEqual({ minReplicaCount: 0, maxReplicaCount: 1 });
  });

  it('lag as KEDA reads /jsz: the account by id or name, the stream and consumer by name, pending + ack-pending', () => {
    const jsz = {
      account_details: [
        { id: 'OTHER', name: 'OTHER', stream_detail: [{ name: 'LM_SEG', consumer_detail: [{ name: 'svc_blur', num_pending: 100, num_ack_pending: 100 }] }] },
        { id: 'ABC', name: 'LIVEMESH', stream_detail: [{ name: 'LM_OUT', consumer_detail: [] }, { name: 'LM_SEG', consumer_detail: [{ name: 'svc_x', num_pending: 9, num_ack_pending: 0 }, { name: 'svc_blur', num_pending: 12, num_ack_pending: 3 }] }] },
      ],
    };
    const t = { account: 'ABC', stream: 'LM_SEG', consumer: 'svc_blur' };
    expect(kedaJetStreamLag(jsz, t)).toBe(15);
    expect(kedaJetStreamLag(jsz, { ...t, account: 'LIVEMESH' })).toBe(15);
    expect(kedaJetStreamLag(jsz, { ...t, consumer: 'svc_none' })).toBeUndefined();
    expect(kedaJetStreamLag(jsz, { ...t, stream: 'LM_NONE' })).toBeUndefined();
    expect(kedaJetStreamLag({}, t)).toBeUndefined();
    expect([0, 1, 10, 11, 15].map((lag) => kedaDesiredReplicas(lag, 5))).toEqual([0, 1, 2, 3, 3]);
  });
});
