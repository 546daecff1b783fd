import { join, resolve } from 'node:path';
import { NatsCredentialMinter, loadOrCreateNatsAuth, mintCreds, natsServerConfig, signerOf } from '@livemesh/bus';
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
  const tls = env.NATS_TLS_CERT && env.NATS_TLS_KEY ? { cert: resolve(env.NATS_TLS_CERT), key: resolve(env.NATS_TLS_KEY) } : undefined;
  const config = join(natsDir, 'nats.conf');
  await writePrivateFile(config, await natsServerConfig(secrets, { listen: '127.0.0.1:4222', storeDir: natsDir, ...(tls ? { tls } : {}) }));
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
  return { config, signerFile, creds, platformCreds, tls: tls !== undefined };
}
