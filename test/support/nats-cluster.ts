// A 3-node nats-server cluster on 127.0.0.1 for the cluster suite (docs/scaling.md, "A NATS
// cluster"): `cluster {}` routes between the nodes, JetStream in each, the same JWT auth as
// `livemesh up` (setUpNatsAuth). Each node can be SIGKILLed, put into lame duck mode and started
// again with its store, and the harness reads the cluster's state (leaders, replicas' currency)
// from each node's monitoring port (/jsz), as an operator would.
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { freePort } from './free-port.js';
import { launch, setUpNatsAuth, type NatsServerAuth } from './nats-server.js';
import { removeOnExit, terminate } from './processes.js';
import { requireExecutable } from './tools.js';
import { waitFor } from './wait.js';

export interface NatsClusterNode {
  /** server_name, as /jsz names leaders and peers. */
  name: string;
  url: string;
  port: number;
  monitorUrl: string;
  /** The running process's pid; undefined while down. */
  pid(): number | undefined;
  /** SIGKILL: no shutdown, no leadership handed over, its store as a crash leaves it. */
  kill(): Promise<void>;
  /** Lame duck mode (SIGUSR2, what `nats-server --signal ldm` sends): hands its leaders over, closes its clients over the grace period, exits. */
  lameDuck(): Promise<void>;
  /** Starts a stopped node again, same ports and store. */
  up(): Promise<void>;
}

/** What one node's /jsz says about one stream or consumer. */
export interface ReplicaView {
  leader?: string;
  replicas: { name: string; current: boolean; offline?: boolean; lag?: number }[];
}

export interface NatsCluster {
  /** The seed list, comma-separated, as NATS_URL takes it. */
  url: string;
  nodes: NatsClusterNode[];
  auth: NatsServerAuth;
  logs(): string;
  node(name: string): NatsClusterNode;
  /** The meta leader (the JetStream API's), from a running node. */
  metaLeader(): Promise<string>;
  /** The node leading `stream`'s Raft group. */
  streamLeader(stream: string): Promise<string>;
  /** The node leading the durable `consumer`'s Raft group. */
  consumerLeader(stream: string, consumer: string): Promise<string>;
  /**
   * Resolves once every node is up and the cluster has converged: one meta leader all agree on,
   * every stream and consumer led, its leader seeing all its followers current and online, and
   * (`sameState`, for a cluster at rest) every node that reports a stream holding the same
   * messages up to the same last sequence. Rejects with what still differs after `timeoutMs`.
   */
  waitConverged(opts?: { timeoutMs?: number; sameState?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

interface JszStream {
  name: string;
  config?: { num_replicas?: number };
  cluster?: ReplicaView;
  state: { messages: number; first_seq: number; last_seq: number };
  consumer_detail?: { name: string; cluster?: ReplicaView }[];
}

interface Jsz {
  server_name?: string;
  meta_cluster?: { leader?: string; cluster_size?: number; replicas?: { name: string; current: boolean }[] };
  account_details?: { stream_detail?: JszStream[] }[];
}

const CLUSTER_NAME = 'lm-test';

/** Starts three nodes (n1..n3) and waits until they have elected a meta leader. */
export async function startNatsCluster(opts: { size?: number; startTimeoutMs?: number } = {}): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  const timeoutMs = opts.startTimeoutMs ?? 20_000;
  const bin = requireExecutable('nats-server', 'nats-server');
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-nats-cluster-'));
  const forget = removeOnExit(dir);
  const { confFile, auth } = await setUpNatsAuth(join(dir, 'auth'));
  const specs: { name: string; port: number; clusterPort: number; monitorPort: number; conf: string }[] = [];
  for (let i = 1; i <= size; i++) specs.push({ name: `n${i}`, port: await freePort(), clusterPort: await freePort(), monitorPort: await freePort(), conf: join(dir, `n${i}.conf`) });
  for (const s of specs) {
    await mkdir(join(dir, s.name), { recursive: true });
    await writeFile(
      s.conf,
      [
        `server_name: ${s.name}`,
        `listen: 127.0.0.1:${s.port}`,
        `http: 127.0.0.1:${s.monitorPort}`,
        `jetstream { store_dir: "${join(dir, s.name)}" }`,
        `cluster {`,
        `  name: ${CLUSTER_NAME}`,
        `  listen: 127.0.0.1:${s.clusterPort}`,
        `  routes: [${specs.filter((o) => o !== s).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`).join(', ')}]`,
        `}`,
        // Lame duck: hand the leaders over, wait 1 s, then close the clients at most one a second
        // (the duration, 30 s at least, bounds the spread; a few clients take a few seconds).
        'lame_duck_duration: "30s"',
        'lame_duck_grace_period: "1s"',
        // include paths are relative to this file, which sits beside the auth folder.
        `include "${relative(dir, confFile)}"`,
        '',
      ].join('\n'),
    );
  }

  const children = new Map<string, ChildProcess | undefined>();
  const outputs = new Map(specs.map((s) => [s.name, [] as string[]]));
  const start = async (s: (typeof specs)[number]) => {
    children.set(s.name, await launch(bin, ['-c', s.conf], s.port, outputs.get(s.name)!, timeoutMs));
  };
  const logs = (last = 500) => specs.map((s) => outputs.get(s.name)!.slice(-last).map((l) => `[${s.name}] ${l}`).join('\n')).join('\n');
  const running = () => specs.filter((s) => children.get(s.name));

  const jsz = async (monitorPort: number, query = ''): Promise<Jsz> => {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz${query}`);
    if (!res.ok) throw new Error(`/jsz on :${monitorPort}: HTTP ${res.status}`);
    return (await res.json()) as Jsz;
  };
  const details = (monitorPort: number) => jsz(monitorPort, '?accounts=true&streams=true&consumers=true&config=true');
  const streamsOf = (j: Jsz): JszStream[] => (j.account_details ?? []).flatMap((a) => a.stream_detail ?? []);

  /** Asks running nodes in turn until one answers with a value. */
  const fromAny = async <T>(what: string, read: (j: Jsz) => T | undefined, timeout = 20_000): Promise<T> =>
    waitFor(what, timeout, async () => {
      for (const s of running()) {
        const v = read(await details(s.monitorPort).catch(() => ({}) as Jsz));
        if (v !== undefined && v !== '') return v;
      }
      return undefined;
    }, { intervalMs: 100, detail: () => logs(10) });

  /** Everything that still differs from a converged cluster; empty when converged. */
  const divergence = async (sameState: boolean): Promise<string[]> => {
    const problems: string[] = [];
    const views = new Map<string, Jsz>();
    for (const s of specs) {
      if (!children.get(s.name)) {
        problems.push(`${s.name} is down`);
        continue;
      }
      try {
        views.set(s.name, await details(s.monitorPort));
      } catch (e) {
        problems.push(`${s.name}: ${(e as Error).message}`);
      }
    }
    const metaLeaders = new Set([...views.values()].map((j) => j.meta_cluster?.leader ?? ''));
    if (metaLeaders.size !== 1 || metaLeaders.has('')) problems.push(`meta leader: ${[...metaLeaders].join(' / ') || 'none'}`);
    const byStream = new Map<string, Map<string, JszStream>>();
    for (const [node, j] of views) for (const st of streamsOf(j)) byStream.set(st.name, (byStream.get(st.name) ?? new Map()).set(node, st));
    for (const [name, perNode] of byStream) {
      const leader = [...perNode.values()].map((st) => st.cluster?.leader).find(Boolean);
      const lv = leader ? perNode.get(leader) : undefined;
      if (!leader || !lv) {
        problems.push(`${name}: ${leader ? `leader ${leader} does not report it` : 'no leader'}`);
        continue;
      }
      // The leader's view: every other peer of the group known, current and online.
      const peers = lv.cluster?.replicas ?? [];
      const size = lv.config?.num_replicas ?? 1;
      if (peers.length !== size - 1) problems.push(`${name}: leader ${leader} sees ${peers.length} of ${size - 1} followers`);
      for (const r of peers) if (!r.current || r.offline) problems.push(`${name}: replica ${r.name} not current (lag ${r.lag ?? '?'})`);
      // At rest, every node that reports the stream holds the same messages up to the same sequence.
      const states = new Set([...perNode.values()].map((st) => `${st.state.messages}/${st.state.last_seq}`));
      if (sameState && states.size > 1) problems.push(`${name}: state differs across nodes (${[...perNode].map(([n, st]) => `${n} ${st.state.messages}/${st.state.last_seq}`).join(', ')})`);
      // A consumer's replicas, as its leader sees them. (Its delivered and ack floor are not
      // compared: a follower's /jsz reports them only once it leads.)
      const consumerNames = new Set([...perNode.values()].flatMap((st) => (st.consumer_detail ?? []).map((c) => c.name)));
      for (const c of consumerNames) {
        const cLeader = [...perNode.values()].map((st) => st.consumer_detail?.find((x) => x.name === c)?.cluster?.leader).find(Boolean);
        if (!cLeader) {
          problems.push(`${name}/${c}: no leader`);
          continue;
        }
        const view = perNode.get(cLeader)?.consumer_detail?.find((x) => x.name === c);
        for (const r of view?.cluster?.replicas ?? []) if (!r.current || r.offline) problems.push(`${name}/${c}: replica ${r.name} not current`);
      }
    }
    return problems;
  };

  try {
    await Promise.all(specs.map(start));
  } catch (e) {
    for (const c of children.values()) if (c) await terminate(c);
    await rm(dir, { recursive: true, force: true });
    forget();
    throw e;
  }

  const nodeOf = (s: (typeof specs)[number]): NatsClusterNode => ({
    name: s.name,
    url: `nats://127.0.0.1:${s.port}`,
    port: s.port,
    monitorUrl: `http://127.0.0.1:${s.monitorPort}`,
    pid: () => children.get(s.name)?.pid,
    async kill() {
      const c = children.get(s.name);
      children.set(s.name, undefined);
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await gone;
    },
    async lameDuck() {
      const c = children.get(s.name);
      if (!c || c.exitCode !== null || c.signalCode !== null) throw new Error(`${s.name} is not running`);
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGUSR2');
      await gone;
      children.set(s.name, undefined);
    },
    async up() {
      if (children.get(s.name)) throw new Error(`${s.name} is running`);
      await start(s);
    },
  });
  const nodes = specs.map(nodeOf);

  const cluster: NatsCluster = {
    url: nodes.map((n) => n.url).join(','),
    nodes,
    auth,
    logs: () => logs(),
    node: (name) => {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new Error(`no node ${name}`);
      return n;
    },
    metaLeader: () => fromAny('a meta leader', (j) => j.meta_cluster?.leader),
    streamLeader: (stream) => fromAny(`a leader of ${stream}`, (j) => streamsOf(j).find((st) => st.name === stream)?.cluster?.leader),
    consumerLeader: (stream, consumer) =>
      fromAny(`a leader of ${stream}/${consumer}`, (j) => streamsOf(j).find((st) => st.name === stream)?.consumer_detail?.find((c) => c.name === consumer)?.cluster?.leader),
    async waitConverged({ timeoutMs = 30_000, sameState = false } = {}) {
      let last: string[] = [];
      await waitFor('the cluster to converge', timeoutMs, async () => {
        last = await divergence(sameState);
        return last.length === 0 ? true : undefined;
      }, { intervalMs: 250, detail: () => last.join('\n') });
    },
    async stop() {
      for (const [name, c] of children) {
        if (c) await terminate(c);
        children.set(name, undefined);
      }
      await rm(dir, { recursive: true, force: true });
      forget();
    },
  };
  try {
    await cluster.metaLeader();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
