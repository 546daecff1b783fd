/**
 * The nats-server a mesh runs on, set up with JWT auth (docs/security.md, "NATS credentials"):
 * `livemesh up` (apps/cli) and Compose's `nats-init` (apps/orchestrator) both write their server
 * configuration with natsServerConfig; Compose's one-shot set-up is prepareComposeNats.
 */
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, assertToken, writePrivateFile, type NatsIdentity } from '@livemesh/contracts';
import { loadOrCreateNatsAuth, mintCreds, natsServerAuthConfig, signerOf, type NatsAuthSecrets } from './nats.auth.js';

export interface NatsServerSettings {
  /** `host:port` nats-server listens on. */
  listen: string;
  /** JetStream's store directory. */
  storeDir: string;
  /** PEM files: TLS on. */
  tls?: { cert: string; key: string };
}

/**
 * A complete nats-server configuration: listen address, 8 MiB payloads, JetStream, TLS when given,
 * JWT auth. A config file because max_payload has no command-line flag. 8 MiB lets a 2 s segment of
 * 720p (1-2 MB) travel inline instead of through the object store, several times faster;
 * publishers cap their inline limit at whatever the server they meet accepts.
 */
export async function natsServerConfig(secrets: NatsAuthSecrets, s: NatsServerSettings): Promise<string> {
  const tls = s.tls ? `tls {\n  cert_file: ${JSON.stringify(s.tls.cert)}\n  key_file: ${JSON.stringify(s.tls.key)}\n}\n` : '';
  return `listen: ${JSON.stringify(s.listen)}\nmax_payload: 8MB\njetstream {\n  store_dir: ${JSON.stringify(s.storeDir)}\n}\n${tls}${await natsServerAuthConfig(secrets)}`;
}

/** Who runs as which uid under Compose: each component its own, so none can read another's credential. */
export interface ComposeUsers {
  nats: number;
  orchestrator: number;
  ingest: number;
  delivery: number;
  /** Built-in service -> uid of its Compose worker. */
  workers: Record<string, number>;
}

/**
 * `nats=10100 orchestrator=10001 ingest=10002 delivery=10003 worker.watermark=10011 ...` (the
 * nats-init container's command) -> ComposeUsers. Every component must be named once.
 */
export function parseComposeUsers(args: readonly string[]): ComposeUsers {
  const problems: string[] = [];
  const fixed: Partial<Record<'nats' | 'orchestrator' | 'ingest' | 'delivery', number>> = {};
  const workers: Record<string, number> = {};
  for (const arg of args) {
    const m = /^(nats|orchestrator|ingest|delivery|worker\.([^=]+))=(\d{1,10})$/.exec(arg);
    const uid = m ? Number(m[3]) : NaN;
    if (!m || uid < 1 || uid > 2 ** 31 - 1) {
      problems.push(`${JSON.stringify(arg)}: expected <component>=<uid> (component: nats, orchestrator, ingest, delivery or worker.<service>; uid 1 to 2147483647, not root)`);
      continue;
    }
    if (m[2] !== undefined) {
      try {
        assertToken('service', m[2]);
      } catch (e) {
        problems.push(`${arg}: ${(e as Error).message}`);
        continue;
      }
      workers[m[2]] = uid;
    } else fixed[m[1] as keyof typeof fixed] = uid;
  }
  for (const k of ['nats', 'orchestrator', 'ingest', 'delivery'] as const) if (fixed[k] === undefined) problems.push(`${k}=<uid> is missing`);
  const all = [...Object.values(fixed), ...Object.values(workers)];
  const shared = all.filter((u, i) => all.indexOf(u) !== i);
  if (shared.length) problems.push(`uid ${[...new Set(shared)].join(', ')} is given to more than one component: each needs its own, or it could read the other's credential`);
  if (problems.length) throw new ConfigError('nats-init arguments are invalid', problems);
  return { ...(fixed as Omit<ComposeUsers, 'workers'>), workers };
}

export interface ComposeNats {
  config: string;
  signerFile: string;
  /** Credential file per component: orchestrator, ingest, delivery, platform, workers.<service>. */
  creds: Record<string, string>;
}

/**
 * Compose's NATS set-up, run as root once per `up` by the nats-init container on a volume every
 * component mounts read-only: the seeds (made once, root 0600), the server's configuration (owned
 * by the nats uid, 0400), and a credential per component, each owned by that component's uid and
 * mode 0400. A Compose worker gets its service's credential (as a swarm task does: heartbeats under
 * `<service>.*`), since `--scale` may run several of it. The platform's credential and the account
 * signer belong to the orchestrator's uid. The JetStream store directory is handed to the nats uid.
 */
export async function prepareComposeNats(dir: string, storeDir: string, users: ComposeUsers): Promise<ComposeNats> {
  await mkdir(dir, { recursive: true });
  const secrets = await loadOrCreateNatsAuth(dir);
  const own = async (path: string, text: string, uid: number): Promise<string> => {
    await writePrivateFile(path, text);
    await chown(path, uid, uid);
    await chmod(path, 0o400);
    return path;
  };
  const config = await own(join(dir, 'nats.conf'), await natsServerConfig(secrets, { listen: '0.0.0.0:4222', storeDir }), users.nats);
  const signerFile = await own(join(dir, 'account-signer.json'), `${JSON.stringify(signerOf(secrets))}\n`, users.orchestrator);
  const credsDir = join(dir, 'creds');
  const minted: [string, NatsIdentity, number][] = [
    ['orchestrator', { role: 'orchestrator' }, users.orchestrator],
    ['ingest', { role: 'ingest' }, users.ingest],
    ['delivery', { role: 'delivery' }, users.delivery],
    ['platform', { role: 'platform' }, users.orchestrator],
    ...Object.entries(users.workers).map(([service, uid]): [string, NatsIdentity, number] => [`workers.${service}`, { role: 'worker', service }, uid]),
  ];
  const creds: Record<string, string> = {};
  for (const [name, id, uid] of minted) creds[name] = await own(join(credsDir, `${name}.creds`), await mintCreds(signerOf(secrets), id), uid);
  // Every component traverses the folders to its own file; the files' modes keep the rest out.
  // Last: writing a private file makes its folder 0700 (contracts' private-file).
  await chmod(dir, 0o755);
  await chmod(credsDir, 0o755);
  await mkdir(storeDir, { recursive: true });
  await chown(storeDir, users.nats, users.nats);
  await chmod(storeDir, 0o700);
  return { config, signerFile, creds };
}
