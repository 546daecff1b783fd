// The k8s runtime (issue 14 item 3), without a cluster: no Kubernetes can run on these machines,
// so this is NOT a cluster test. What it checks instead:
//   1. the runtime, built by createRuntime for LIVEMESH_RUNTIME=k8s from a kubeconfig, against a
//      fake API server (test/support/fake-kube-api.ts: real HTTP on 127.0.0.1, records each call)
//      through @kubernetes/client-node: server-side apply of the Secret and the Deployment, the
//      scale subresource for counts, the ScaledObject's bounds for a KEDA-owned service, and every
//      object it sent valid against the Kubernetes and KEDA schemas plus a strict pass;
//   2. the kustomize base in deploy/k8s: rendered by `kubectl kustomize` where kubectl is
//      installed (else every listed file exists and parses), and every object schema- and strictly valid;
//   3. KEDA's nats-jetstream lag (num_pending + num_ack_pending from /jsz) against a real
//      nats-server's numbers, and the replicas it asks for against the orchestrator's own policy.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Bus, ensureServiceConsumer, ensureTopology, publishSegment } from '@livemesh/bus';
import { STREAMS, autoscaleSettings, consumers, loadEnv, subjects, type SegmentMeta, type ServiceSpec } from '@livemesh/contracts';
import { FIELD_MANAGERS, K8sRuntime, createRuntime, initialAutoscaleState, kedaDesiredReplicas, kedaJetStreamLag, k8sName, recommendReplicas, scaledObjectManifest, type ContainerRuntime, type JszAnswer } from '@livemesh/runtime';
import { startFakeKubeApi, type FakeKubeApi } from '../support/fake-kube-api.js';
import { schemaProblems, strictProblems, type Manifest } from '../support/k8s-validate.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { REPO_ROOT } from '../support/processes.js';

const NS = 'lm-test';
const spec = (over: Partial<ServiceSpec> = {}): ServiceSpec => ({ name: 'blur', version: '1.0.0', paramSchema: {}, input: 'segments', minReplicas: 0, maxReplicas: 6, ...over }) as ServiceSpec;

describe('k8s runtime against a fake API server (not a cluster test)', () => {
  let api: FakeKubeApi;
  let dir: string;
  let runtime: ContainerRuntime;
  const logs: string[] = [];
  const logger = { log: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
  const since = (n: number) => api.calls.slice(n).map((c) => `${c.method} ${c.path.replace(`/namespaces/${NS}`, '')}${c.path.endsWith('/scale') ? ` ${JSON.stringify(c.body?.spec)}` : ''}`);
  const applied = (): Manifest[] => api.calls.filter((c) => c.contentType === 'application/apply-patch+yaml').map((c) => c.body!);

  beforeAll(async () => {
    api = await startFakeKubeApi();
    dir = await mkdtemp(join(tmpdir(), 'livemesh-k8s-'));
    await api.kubeconfig(join(dir, 'kubeconfig'), NS);
    await writeFile(join(dir, 'svc.creds'), '-----BEGIN NATS USER JWT-----\nfake\n------END NATS USER JWT------\n');
    const env = loadEnv({ LIVEMESH_RUNTIME: 'k8s', LIVEMESH_KUBECONFIG: join(dir, 'kubeconfig'), NATS_URL: 'nats://127.0.0.1:4222', LIVEMESH_WORKER_IMAGE: '127.0.0.1:5000/livemesh/worker:0.1.0', LIVEMESH_K8S_NATS_MONITORING: '127.0.0.1:8222' });
    runtime = createRuntime(env, { logger, serviceCredentials: async () => join(dir, 'svc.creds'), natsAccount: 'ACCOUNTPUBLICKEY' });
  });

  afterAll(async () => {
    await runtime?.close();
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a service by server-side apply (Secret, Deployment without replicas), scales through /scale, and reuses it', async () => {
    expect(runtime.kind).toBe('k8s');
    const first = await runtime.ensure({ service: spec(), startParams: { crf: 23 } });
    expect(first.reused).toBe(false);
    expect(first.instance).toMatchObject({ service: 'blur', state: 'running' });
    expect(since(0)).toEqual([
      'GET /apis/apps/v1/deployments/lm-blur',
      'PATCH /api/v1/secrets/lm-blur-nats-creds',
      'PATCH /apis/apps/v1/deployments/lm-blur',
      'GET /apis/keda.sh/v1alpha1/scaledobjects/lm-blur',
      'PATCH /apis/apps/v1/deployments/lm-blur/scale {"replicas":1}',
      'GET /api/v1/pods',
      'GET /api/v1/pods',
    ]);
    // Every call from the kubeconfig's namespace and token; applies name their field manager and force.
    expect(new Set(api.calls.map((c) => c.authorization))).toEqual(new Set(['Bearer fake-token']));
    for (const c of api.calls.filter((x) => x.method === 'PATCH' && !x.path.endsWith('/scale'))) {
      expect(c).toMatchObject({ contentType: 'application/apply-patch+yaml', query: { fieldManager: FIELD_MANAGERS.spec, force: 'true' } });
    }
    const deploy = api.calls.find((c) => c.path.endsWith('/deployments/lm-blur') && c.method === 'PATCH')!.body!;
    expect(deploy.spec.replicas).toBeUndefined();
    const pod = deploy.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(pod.containers[0]).toMatchObject({
      image: '127.0.0.1:5000/livemesh/worker:0.1.0',
      securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    });
    expect(pod.containers[0].env).toEqual(expect.arrayContaining([{ name: 'NATS_CREDS', value: '/run/livemesh/nats.creds' }, { name: 'LIVEMESH_START_PARAMS', value: '{"crf":23}' }]));
    const secret = api.get('Secret', NS, 'lm-blur-nats-creds')!;
    expect(Buffer.from(secret.data['nats.creds'], 'base64').toString()).toContain('NATS USER JWT');
    expect(pod.volumes).toContainEqual({ name: 'nats-creds', secret: { secretName: 'lm-blur-nats-creds', defaultMode: 0o400, items: [{ key: 'nats.creds', path: 'nats.creds' }] } });
    expect(await runtime.scaledExternally!(spec())).toBeUndefined();

    const n = api.calls.length;
    const scaled = await runtime.scale(spec(), 3);
    expect(scaled).toHaveLength(3);
    expect(since(n)).toEqual(['GET /apis/apps/v1/deployments/lm-blur', 'GET /apis/keda.sh/v1alpha1/scaledobjects/lm-blur', 'PATCH /apis/apps/v1/deployments/lm-blur/scale {"replicas":3}', 'GET /api/v1/pods']);

    const m = api.calls.length;
    const again = await runtime.ensure({ service: spec(), startParams: { crf: 23 } });
    expect(again.reused).toBe(true);
    expect(since(m).filter((c) => c.startsWith('PATCH'))).toEqual([]);
    expect((await runtime.list('blur')).map((i) => i.state)).toEqual(['running', 'running', 'running']);
  });

  it('rolls a changed service out by applying the new template, keeping the scaled count', async () => {
    const n = api.calls.length;
    await runtime.ensure({ service: spec({ version: '1.1.0', env: { BLUR_RADIUS: '4' } }), startParams: { crf: 23 } });
    expect(since(n).filter((c) => c.startsWith('PATCH'))).toEqual(['PATCH /api/v1/secrets/lm-blur-nats-creds', 'PATCH /apis/apps/v1/deployments/lm-blur']);
    const d = api.get('Deployment', NS, 'lm-blur')!;
    expect(d.spec.replicas).toBe(3);
    expect(d.metadata.labels['app.kubernetes.io/version']).toBe('1.1.0');
    expect(d.spec.template.spec.containers[0].env).toContainEqual({ name: 'BLUR_RADIUS', value: '4' });
  });

  it('leaves a KEDA-owned service to KEDA: applies its ScaledObject, scales by its bounds, never by /scale, and says so', async () => {
    const keda = spec({ name: 'Slow_Filter', minReplicas: 1, maxReplicas: 8, autoscale: { enabled: true, keda: true, targetLagPerReplica: 4 } });
    const name = k8sName('Slow_Filter');
    expect(name).toMatch(/^lm-slow-filter-[0-9a-f]{8}$/);
    const n = api.calls.length;
    await runtime.ensure({ service: keda, startParams: {} });
    const so = api.get('ScaledObject', NS, name)!;
    expect(so.spec).toMatchObject({ minReplicaCount: 1, maxReplicaCount: 8, scaleTargetRef: { name } });
    expect(so.spec.triggers[0]).toEqual({
      type: 'nats-jetstream',
      metadata: { natsServerMonitoringEndpoint: '127.0.0.1:8222', accountID: 'ACCOUNTPUBLICKEY', stream: 'LM_SEG', consumer: 'svc_Slow_Filter', lagThreshold: '4', activationLagThreshold: '0' },
    });
    expect(so.metadata.managedFields.map((f: { manager: string }) => f.manager).sort()).toEqual([FIELD_MANAGERS.spec, FIELD_MANAGERS.bounds].sort());
    expect(await runtime.scaledExternally!(keda)).toBe(`KEDA ScaledObject ${NS}/${name}`);

    const m = api.calls.length;
    expect(await runtime.scale(keda, 5)).toHaveLength(5);
    const calls = api.calls.slice(m);
    expect(calls.filter((c) => c.path.endsWith('/scale'))).toEqual([]);
    const bounds = calls.find((c) => c.method === 'PATCH' && c.path.endsWith(`/scaledobjects/${name}`))!;
    expect(bounds).toMatchObject({ query: { fieldManager: FIELD_MANAGERS.bounds, force: 'true' }, body: { spec: { minReplicaCount: 5, maxReplicaCount: 5 } } });
    expect(Object.keys(bounds.body!.spec)).toEqual(['minReplicaCount', 'maxReplicaCount']);
    expect(since(n).some((c) => c.includes(`/deployments/${name}/scale`))).toBe(false);
  });

  it("treats a service with an operator's ScaledObject (the kustomize component) as KEDA-owned", async () => {
    const op = scaledObjectManifest(spec({ name: 'transcode', autoscale: { enabled: true } }), NS, { monitoringEndpoint: 'nats:8222', account: '$G' });
    api.seed('ScaledObject', { ...op, spec: { ...op.spec, minReplicaCount: 2, maxReplicaCount: 4 } });
    const transcode = spec({ name: 'transcode', maxReplicas: 4 });
    expect(await runtime.scaledExternally!(transcode)).toBe(`KEDA ScaledObject ${NS}/lm-transcode`);
    await runtime.ensure({ service: transcode, startParams: {} });
    expect(api.calls.some((c) => c.path.endsWith('/deployments/lm-transcode/scale'))).toBe(false);
    // The runtime does not rewrite an operator's ScaledObject: only its bounds, and only when told to scale.
    expect(api.calls.filter((c) => c.method === 'PATCH' && c.path.endsWith('/scaledobjects/lm-transcode'))).toEqual([]);
    expect(api.get('Deployment', NS, 'lm-transcode')!.spec.replicas).toBe(2);
  });

  it('sent only objects valid against the Kubernetes and KEDA schemas and the strict pass', () => {
    const objs = applied();
    expect(new Set(objs.map((o) => o.kind))).toEqual(new Set(['Secret', 'Deployment', 'ScaledObject']));
    // Bounds-only applies are partial objects (server-side apply merges them): checked strictly, not against required fields.
    const partial = objs.filter((o) => o.kind === 'ScaledObject' && !o.spec.triggers);
    const whole = objs.filter((o) => !partial.includes(o));
    expect(partial.length).toBeGreaterThan(0);
    expect(whole.flatMap(schemaProblems)).toEqual([]);
    expect(strictProblems(whole, { externalDeployments: (name) => name === 'lm-transcode' })).toEqual([]);
    expect(strictProblems(partial, { partial: true })).toEqual([]);
  });

  it('brings a released service down to its minReplicas after the idle grace, and says why pods do not come up', async () => {
    const quick = new K8sRuntime({ kubeconfig: join(dir, 'kubeconfig'), namespace: NS, env: {}, defaultImage: 'w:1', imageRegistries: [], limits: { memoryBytes: 256 << 20, nanoCpus: 5e8, pids: 64 }, idleGraceMs: 50, logger, keda: { monitoringEndpoint: 'n:8222', account: '$G' }, convergeTimeoutMs: 600, pollMs: 100 });
    await quick.ensure({ service: spec({ name: 'idle' }), startParams: {} });
    await quick.release('idle');
    const n = api.calls.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(since(n)).toContain('PATCH /apis/apps/v1/deployments/lm-idle/scale {"replicas":0}');
    api.podsPending = 'ImagePullBackOff';
    try {
      await expect(quick.ensure({ service: spec({ name: 'stuck' }), startParams: {} })).rejects.toThrow(/service stuck: 1 ready pod\(s\) not reached after 600 ms \(1 pod\(s\): ImagePullBackOff\)/);
    } finally {
      delete api.podsPending;
      await quick.close();
    }
  });

  it("passes the API server's refusal on with its message", async () => {
    api.failNextPatch = { code: 403, reason: 'Forbidden', message: 'admission webhook "policy.example" denied the request: images must come from registry.example' };
    await expect(runtime.ensure({ service: spec({ name: 'denied' }), startParams: {} })).rejects.toThrow(
      'kubernetes: apply secret lm-denied-nats-creds failed (403): admission webhook "policy.example" denied the request: images must come from registry.example',
    );
  });

  it('refuses a count over maxReplicas without calling the API server', async () => {
    const before = api.calls.length;
    await expect(runtime.scale(spec({ name: 'gone' }), 99)).rejects.toThrow(/replicas: must be an integer from 0 to 6/);
    expect(api.calls.length).toBe(before);
  });
});

describe('deploy/k8s: the kustomize base and the KEDA component (not a cluster test)', () => {
  const root = join(REPO_ROOT, 'deploy', 'k8s');
  const kubectl = (() => {
    try {
      execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  /**
   * Every YAML document of a text, as written (not through client-node's loadAllYaml, which maps
   * documents onto its models and so drops the unknown fields the strict pass looks for).
   */
  function parseYaml(text: string, what: string): Manifest[] {
    return parseAllDocuments(text).flatMap((d) => {
      if (d.errors.length) throw new Error(`${what}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() ? [d.toJS() as Manifest] : [];
    });
  }

  /** The files a kustomization lists, followed into bases and components, each parsed. */
  function listed(dir: string): Manifest[] {
    const k = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'), `${dir}/kustomization.yaml`)[0]!;
    const out: Manifest[] = [];
    for (const entry of [...(k.resources ?? []), ...(k.components ?? [])] as string[]) {
      const path = join(dir, entry);
      expect({ entry: `${dir}/${entry}`, exists: existsSync(path) }).toEqual({ entry: `${dir}/${entry}`, exists: true });
      if (existsSync(join(path, 'kustomization.yaml'))) out.push(...listed(path));
      else out.push(...parseYaml(readFileSync(path, 'utf8'), path));
    }
    return out;
  }

  function rendered(dir: string): Manifest[] {
    return parseYaml(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }), `kubectl kustomize ${dir}`);
  }

  const runtimeMade = (name: string) => name.startsWith('lm-');

  it('every file each kustomization lists exists and parses, and is valid', () => {
    for (const dir of ['base', 'overlays/keda']) {
      const objs = listed(join(root, dir));
      expect(objs.length).toBeGreaterThan(0);
      expect(objs.flatMap(schemaProblems)).toEqual([]);
      expect(strictProblems(objs, { externalDeployments: runtimeMade })).toEqual([]);
    }
  });

  (kubectl ? it : it.skip)('kubectl kustomize renders the base and the KEDA overlay into objects valid against the schemas and the strict pass (runs only where kubectl is installed)', () => {
    const base = rendered(join(root, 'base'));
    expect(base.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        'ConfigMap/' + base.find((o) => o.kind === 'ConfigMap')!.metadata.name,
        'Deployment/delivery',
        'Deployment/ingest',
        'Deployment/orchestrator',
        'Namespace/livemesh',
        'Role/livemesh-orchestrator',
        'RoleBinding/livemesh-orchestrator',
        'Service/delivery',
        'Service/ingest',
        'Service/orchestrator',
        'ServiceAccount/livemesh-orchestrator',
      ].sort(),
    );
    const withKeda = rendered(join(root, 'overlays', 'keda'));
    for (const objs of [base, withKeda]) {
      expect(objs.flatMap(schemaProblems)).toEqual([]);
      expect(strictProblems(objs, { externalDeployments: runtimeMade })).toEqual([]);
      expect(objs.filter((o) => o.kind !== 'Namespace').every((o) => o.metadata.namespace === 'livemesh')).toBe(true);
    }
    const so = withKeda.find((o) => o.kind === 'ScaledObject')!;
    expect(so.spec.triggers[0].metadata).toMatchObject({ stream: STREAMS.segments, consumer: consumers.service('transcode') });
    expect(so.metadata.name).toBe(k8sName('transcode'));
    // The orchestrator's Role covers every call the runtime makes, and nothing cluster-wide.
    const role = base.find((o) => o.kind === 'Role')!;
    const can = (group: string, resource: string, verb: string) => role.rules.some((r: Manifest) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    for (const [g, r, v] of [['apps', 'deployments', 'patch'], ['apps', 'deployments', 'get'], ['apps', 'deployments/scale', 'patch'], ['', 'pods', 'list'], ['', 'secrets', 'patch'], ['keda.sh', 'scaledobjects', 'patch'], ['keda.sh', 'scaledobjects', 'get']] as const) {
      expect({ rule: `${g}/${r} ${v}`, granted: can(g, r, v) }).toEqual({ rule: `${g}/${r} ${v}`, granted: true });
    }
    const cm = base.find((o) => o.kind === 'ConfigMap')!;
    expect(() => loadEnv(cm.data)).not.toThrow();
    expect(loadEnv(cm.data).LIVEMESH_RUNTIME).toBe('k8s');
  });
});

describe("KEDA's nats-jetstream lag against a real nats-server's /jsz (not a cluster test)", () => {
  let nats: NatsServer;
  let bus: Bus;
  const SERVICE = 'lagcheck';

  beforeAll(async () => {
    nats = await startNatsServer({ monitor: true, auth: true });
    bus = await Bus.connect({ url: nats.url, name: 'e2e-k8s-lag', credsFile: await nats.auth!.credsFile({ role: 'orchestrator' }) });
    await ensureTopology(bus, { outputRetentionSeconds: 60 });
  });

  afterAll(async () => {
    await bus?.close();
    await nats?.stop();
  });

  it('num_pending + num_ack_pending of the consumer in /jsz equals what the orchestrator reads, and KEDA asks for the replicas the policy recommends', async () => {
    const consumer = await ensureServiceConsumer(bus, SERVICE, { ackWaitMs: 60_000, maxDeliver: 3 });
    const meta = (seq: number): SegmentMeta => ({ streamId: 's1', seq, hop: 0, rendition: 'main', pts: seq * 2, duration: 2, ingestTime: Date.now(), epoch: 0, chainVersion: 1 });
    for (let seq = 0; seq < 23; seq++) await publishSegment(bus, subjects.segment(SERVICE, 's1', 0), { meta: meta(seq), data: new TextEncoder().encode(`seg-${seq}`) }, { inlineLimit: 1 << 20 });
    // Five taken and held unacked: they are ack-pending, the other 18 pending.
    const feed = await consumer.fetch({ maxMessages: 5, expiresMs: 2000 });
    let held = 0;
    for await (const _m of feed) if (++held === 5) break;
    expect(held).toBe(5);

    const info = await bus.consumerInfo(STREAMS.segments, consumers.service(SERVICE));
    expect({ pending: info.pending, ackPending: info.ackPending }).toEqual({ pending: 18, ackPending: 5 });
    const account = (JSON.parse(await readFile(nats.auth!.signerFile, 'utf8')) as { account: string }).account;
    // The URL KEDA's scaler builds from natsServerMonitoringEndpoint and accountID.
    const jsz = (await (await fetch(`${nats.monitorUrl}/jsz?acc=${encodeURIComponent(account)}&consumers=true&config=true`)).json()) as JszAnswer;
    const target = { account, stream: STREAMS.segments, consumer: consumers.service(SERVICE) };
    const lag = kedaJetStreamLag(jsz, target);
    expect(lag).toBe(info.pending + info.ackPending);
    expect(kedaJetStreamLag(jsz, { ...target, account: '$G' })).toBeUndefined();
    expect(kedaJetStreamLag(jsz, { ...target, consumer: 'svc_other' })).toBeUndefined();

    // The ScaledObject's lagThreshold is the service's targetLagPerReplica, so KEDA and the orchestrator's policy agree.
    const svc = { name: SERVICE, version: '1.0.0', paramSchema: {}, input: 'segments', minReplicas: 1, maxReplicas: 10, autoscale: { enabled: true, keda: false, targetLagPerReplica: 4 } } as ServiceSpec;
    const threshold = Number(scaledObjectManifest(svc, 'ns', { monitoringEndpoint: 'n:8222', account }).spec.triggers![0]!.metadata.lagThreshold);
    const keda = kedaDesiredReplicas(lag!, threshold);
    expect(keda).toBe(6);
    const { decision } = recommendReplicas({ lag: info.pending + info.ackPending, current: 1, min: 1, max: 10, settings: autoscaleSettings(svc), now: 0 }, initialAutoscaleState());
    expect(decision.desired).toBe(keda);
  });
});
