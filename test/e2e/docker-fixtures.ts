// Shared by the Docker and Swarm suites: images built once per run (the base is cached by tag),
// and an image registry (CI's, or Debian's docker-registry started here).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { BUCKETS, SEGMENT_HEADERS, subjects, type WorkerHeartbeat } from '@livemesh/contracts';
import { Bus } from '@livemesh/bus';
import { LABELS, buildAppImage, createDockerClient } from '@livemesh/runtime';
import { TEST_ADMIN_TOKEN } from '../support/auth.js';
import { dockerHost } from '../support/docker.js';
import { freePort } from '../support/free-port.js';
import { REPO_ROOT, spawnNode, type AppProcess } from '../support/processes.js';
import { requireExecutable } from '../support/tools.js';
import { waitFor } from '../support/wait.js';

export const WORKER_IMAGE = 'livemesh/worker:e2e';

export function docker(): Docker {
  return createDockerClient(dockerHost());
}

/** Builds the example service (`npm test` builds the workspaces first; the example is not one). */
export function buildCheckout(): void {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'examples/pixelate'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
}

/** The worker image from this checkout (the base image is made once and reused by tag). */
export async function buildWorkerImage(d: Docker): Promise<string> {
  await buildAppImage(d, { root: REPO_ROOT, app: 'worker', tag: WORKER_IMAGE });
  return WORKER_IMAGE;
}

export interface Registry {
  address: string;
  stop(): Promise<void>;
}

/** CI's registry (LIVEMESH_TEST_REGISTRY), or a docker-registry of our own on a free port. */
export async function useRegistry(): Promise<Registry> {
  const given = process.env.LIVEMESH_TEST_REGISTRY;
  if (given) return { address: given, stop: async () => undefined };
  const bin = requireExecutable('docker-registry', 'docker-registry');
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-registry-'));
  const port = await freePort();
  const config = join(dir, 'registry.yml');
  await writeFile(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const child = spawn(bin, ['serve', config], { stdio: 'ignore' });
  const address = `127.0.0.1:${port}`;
  await waitFor(`the registry at ${address}`, 30_000, async () => (await fetch(`http://${address}/v2/`).catch(() => undefined))?.ok);
  return {
    address,
    async stop() {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The digest the registry serves for repo:tag (what a `docker pull` would get). */
export async function registryDigest(registry: string, repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
  });
  return res.ok ? res.headers.get('docker-content-digest') : null;
}

/** `livemesh ...` as a child process. */
/** The CLI, with the test admin token its API calls need (LIVEMESH_TOKEN). */
export function cli(args: string[], env: Record<string, string>): AppProcess {
  return spawnNode('livemesh', [join(REPO_ROOT, 'apps/cli/dist/main.js'), ...args], { LIVEMESH_TOKEN: TEST_ADMIN_TOKEN, ...env });
}

/** Containers of a service, running ones first. */
export async function containersOf(d: Docker, service: string, all = false): Promise<Docker.ContainerInfo[]> {
  return d.listContainers({ all, filters: { label: [`${LABELS.managed}=true`, `${LABELS.service}=${service}`] } });
}

export async function removeContainersOf(d: Docker, service: string): Promise<void> {
  for (const c of await containersOf(d, service, true)) await d.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
}

export async function heartbeats(bus: Bus, service: string): Promise<WorkerHeartbeat[]> {
  return (await bus.store(BUCKETS.workers).list(`${service}.>`)).map((e) => e.value);
}

/** Collects the sequence numbers of a stream's finished segments from its output subjects. */
export function collectOutputSeqs(bus: Bus, streamId: string): { seqs: Set<number>; stop(): void } {
  const seqs = new Set<number>();
  const sub = bus.subscribe(subjects.streamOutput(streamId));
  void (async () => {
    for await (const m of sub) {
      const seq = Number(m.headers?.get(SEGMENT_HEADERS.seq));
      if (Number.isInteger(seq)) seqs.add(seq);
    }
  })();
  return { seqs, stop: () => sub.unsubscribe() };
}

/** Runs `cmd` in a running container (as its user) and returns its exit code and output. */
export async function execIn(d: Docker, containerId: string, cmd: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const ex = await d.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await ex.start({ hijack: true, stdin: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const [stdout, stderr] = [new PassThrough().on('data', (c: Buffer) => out.push(c)), new PassThrough().on('data', (c: Buffer) => err.push(c))];
  await new Promise<void>((resolve, reject) => {
    d.modem.demuxStream(stream, stdout, stderr);
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const { ExitCode } = await ex.inspect();
  return { code: ExitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
