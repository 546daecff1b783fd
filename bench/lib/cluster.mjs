// A 3-node nats-server cluster on loopback for the cost model's R3 throughput (docs/scaling.md):
// `cluster {}` routes, JetStream in each node, no auth (the bench measures the broker alone). The
// e2e harness (test/support/nats-cluster.ts) adds JWT auth, faults and /jsz checks.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './mesh.mjs';
import { startChild } from './proc.mjs';

/** Starts `size` nodes and resolves once each accepts clients (the first stream add waits for the meta group). */
export async function startNatsCluster(size = 3) {
  const dir = await mkdtemp(join(tmpdir(), 'livemesh-bench-cluster-'));
  const nodes = [];
  for (let i = 1; i <= size; i++) nodes.push({ name: `n${i}`, port: await freePort(), clusterPort: await freePort() });
  const procs = [];
  for (const n of nodes) {
    const routes = nodes.filter((o) => o !== n).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`);
    const conf = join(dir, `${n.name}.conf`);
    await writeFile(
      conf,
      [
        `server_name: ${n.name}`,
        `listen: "127.0.0.1:${n.port}"`,
        'max_payload: 8MB',
        `jetstream { store_dir: "${join(dir, n.name)}" }`,
        `cluster { name: bench, listen: "127.0.0.1:${n.clusterPort}", routes: [${routes.join(', ')}] }`,
        '',
      ].join('\n'),
    );
    procs.push(startChild(`nats-${n.name}`, 'nats-server', ['-c', conf]));
  }
  // A node logs this once the meta group has a leader (it or another node).
  await Promise.all(procs.map((p) => p.waitForLine(/Server is ready/, 30_000)));
  return {
    url: nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(','),
    pids: procs.map((p) => p.pid),
    async stop() {
      for (const p of procs) await p.stop(5_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
