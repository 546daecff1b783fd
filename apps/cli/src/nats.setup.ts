import { join, resolve } from 'node:path';
import { NatsCredentialMinter, loadOrCreateNatsAuth, mintCreds, natsServerAuthConfig, signerOf } from '@livemesh/bus';
import { ConfigError, ensurePrivateDir, writePrivateFile, type Env } from '@livemesh/contracts';

export interface PreparedNats {
  /** The nats-server configuration file. */
  config: string;
  /** NATS_ACCOUNT_SIGNER for the orchestrator. */
  signerFile: string;
  /** NATS_CREDS of each app `livemesh up` starts. */
  creds: Record<'orchestrator' | 'delivery' | 'ingest', string>;
  /** The platform's credential (`<data dir>/platform.creds`). */
  platformCreds: string;
  tls: boolean;
}

/**
 * Sets up the nats-server `livemesh up` starts (docs/security.md, "NATS credentials"): the
 * operator and account are made once, kept in `<data dir>/nats/nats-auth.json` (0600, folder
 * 0700); the server configuration turns JWT auth on (and TLS with NATS_TLS_CERT/KEY); each app
 * gets a fresh credential, the platform one at `<data dir>/platform.creds`.
 */
export async function prepareNats(dataDir: string, env: Pick<Env, 'NATS_TLS_CERT' | 'NATS_TLS_KEY'>): Promise<PreparedNats> {
  const natsDir = resolve(dataDir, 'nats');
  // Seeds and credentials live here: only the user that runs livemesh may read them.
  await ensurePrivateDir(resolve(dataDir));
  await ensurePrivateDir(natsDir);
  const secrets = await loadOrCreateNatsAuth(natsDir);
  if (Boolean(env.NATS_TLS_CERT) !== Boolean(env.NATS_TLS_KEY)) {
    throw new ConfigError('NATS TLS is half configured', ['set both NATS_TLS_CERT and NATS_TLS_KEY, or neither']);
  }
  const tls = env.NATS_TLS_CERT && env.NATS_TLS_KEY ? `tls {\n  cert_file: ${JSON.stringify(resolve(env.NATS_TLS_CERT))}\n  key_file: ${JSON.stringify(resolve(env.NATS_TLS_KEY))}\n}\n` : '';
  // A config file because max_payload has no command-line flag. 8 MiB lets a 2 s segment of
  // 720p (1-2 MB) travel inline instead of through the object store, several times faster;
  // publishers cap their inline limit at whatever the server they meet accepts.
  const config = join(natsDir, 'nats.conf');
  await writePrivateFile(
    config,
    `listen: "127.0.0.1:4222"\nmax_payload: 8MB\njetstream {\n  store_dir: ${JSON.stringify(natsDir)}\n}\n${tls}${await natsServerAuthConfig(secrets)}`,
  );
  const signerFile = join(natsDir, 'account-signer.json');
  await writePrivateFile(signerFile, `${JSON.stringify(signerOf(secrets))}\n`);
  const minter = new NatsCredentialMinter(signerOf(secrets), join(natsDir, 'creds'));
  const creds = {
    orchestrator: await minter.credsFile({ role: 'orchestrator' }),
    delivery: await minter.credsFile({ role: 'delivery' }),
    ingest: await minter.credsFile({ role: 'ingest' }),
  };
  const platformCreds = join(resolve(dataDir), 'platform.creds');
  await writePrivateFile(platformCreds, await mintCreds(signerOf(secrets), { role: 'platform' }));
  return { config, signerFile, creds, platformCreds, tls: tls !== '' };
}
