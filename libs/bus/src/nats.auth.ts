/**
 * NATS credentials (docs/security.md, "NATS credentials"): decentralised JWT auth. One operator,
 * a system account and the livemesh account (JetStream on), all preloaded into nats-server's
 * memory resolver; users are JWTs signed by the account's signing key, each carrying exactly the
 * permissions contracts' natsPermissions gives its component. The server verifies a user JWT
 * by its signature alone, so the orchestrator can mint a credential for a new worker without
 * touching the server's configuration.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decode, encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser, fromSeed } from '@nats-io/nkeys';
import { ConfigError, natsPermissions, natsUserName, readOrCreatePrivateFile, writePrivateFile, type NatsIdentity } from '@livemesh/contracts';

/** The seeds behind a mesh's NATS auth: whoever holds them rules the bus. Stored 0600. */
export interface NatsAuthSecrets {
  operatorSeed: string;
  systemAccountSeed: string;
  accountSeed: string;
  /** The livemesh account's signing key: it signs user JWTs. */
  signingKeySeed: string;
}

/** What a minter needs: the account (public) and its signing key. The file NATS_ACCOUNT_SIGNER names holds this. */
export interface NatsAccountSigner {
  account: string;
  signingKeySeed: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function createNatsAuthSecrets(): NatsAuthSecrets {
  const seed = (kp: { getSeed(): Uint8Array }) => dec.decode(kp.getSeed());
  return {
    operatorSeed: seed(createOperator()),
    systemAccountSeed: seed(createAccount()),
    accountSeed: seed(createAccount()),
    signingKeySeed: seed(createAccount()),
  };
}

export function signerOf(secrets: NatsAuthSecrets): NatsAccountSigner {
  return { account: fromSeed(enc.encode(secrets.accountSeed)).getPublicKey(), signingKeySeed: secrets.signingKeySeed };
}

const UNLIMITED_ACCOUNT = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
};

/**
 * The server configuration lines that turn JWT auth on: the operator, the system account and the
 * memory resolver preloaded with both account JWTs. Append them to a config with `listen` and `jetstream`.
 */
export async function natsServerAuthConfig(secrets: NatsAuthSecrets): Promise<string> {
  const op = fromSeed(enc.encode(secrets.operatorSeed));
  const sys = fromSeed(enc.encode(secrets.systemAccountSeed));
  const acc = fromSeed(enc.encode(secrets.accountSeed));
  const sk = fromSeed(enc.encode(secrets.signingKeySeed));
  const operatorJwt = await encodeOperator('livemesh', op, { system_account: sys.getPublicKey() });
  const systemJwt = await encodeAccount('SYS', sys, {}, { signer: op });
  const accountJwt = await encodeAccount('LIVEMESH', acc, { signing_keys: [sk.getPublicKey()], limits: UNLIMITED_ACCOUNT }, { signer: op });
  return [
    // A user JWT with its permissions travels in the CONNECT line; the default 4 KiB is too small for delivery's.
    'max_control_line: 65536',
    `operator: ${operatorJwt}`,
    `system_account: ${sys.getPublicKey()}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${acc.getPublicKey()}: ${accountJwt}`,
    `  ${sys.getPublicKey()}: ${systemJwt}`,
    '}',
    '',
  ].join('\n');
}

/** A standard NATS credentials file (user JWT and seed) for `id`, with exactly its permissions. */
export async function mintCreds(signer: NatsAccountSigner, id: NatsIdentity): Promise<string> {
  const user = createUser();
  const sk = fromSeed(enc.encode(signer.signingKeySeed));
  const perms = natsPermissions(id);
  const jwt = await encodeUser(
    natsUserName(id),
    user,
    signer.account,
    {
      ...(perms.pub ? { pub: { allow: perms.pub.allow } } : {}),
      ...(perms.sub ? { sub: { allow: perms.sub.allow } } : {}),
    },
    { signer: sk },
  );
  return dec.decode(fmtCreds(jwt, user));
}

/**
 * The inbox prefix a credential's permissions leave room for (`_LM_INBOX...`), read from its JWT;
 * undefined for a credential without one (an operator's own, or the unrestricted orchestrator).
 */
export function inboxPrefixOfCreds(creds: string): string | undefined {
  const jwt = /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9_.=-]+)\s*------END NATS USER JWT------/.exec(creds)?.[1];
  if (!jwt) return undefined;
  let claims: { nats?: { sub?: { allow?: string[] } } };
  try {
    claims = decode(jwt) as typeof claims;
  } catch {
    return undefined;
  }
  const inbox = claims.nats?.sub?.allow?.find((s) => s.startsWith('_LM_INBOX.') && s.endsWith('.>'));
  return inbox?.slice(0, -2);
}

/** The mesh's secrets in `<dir>/nats-auth.json`, created (0600, folder 0700) on first use. */
export async function loadOrCreateNatsAuth(dir: string): Promise<NatsAuthSecrets> {
  const path = join(dir, 'nats-auth.json');
  const { text } = await readOrCreatePrivateFile(path, () => `${JSON.stringify(createNatsAuthSecrets(), null, 2)}\n`);
  return parseSecrets(text, path);
}

function parseSecrets(text: string, path: string): NatsAuthSecrets {
  const o = JSON.parse(text) as Partial<NatsAuthSecrets>;
  for (const k of ['operatorSeed', 'systemAccountSeed', 'accountSeed', 'signingKeySeed'] as const) {
    if (typeof o[k] !== 'string' || !/^S[OA][A-Z2-7]{56}$/.test(o[k])) throw new ConfigError(`NATS auth secrets ${path} are invalid`, [`${k} is not an nkey seed`]);
  }
  return o as NatsAuthSecrets;
}

/** Reads the signer file (NATS_ACCOUNT_SIGNER): `{"account": "A...", "signingKeySeed": "SA..."}`. */
export async function readAccountSigner(path: string): Promise<NatsAccountSigner> {
  let o: Partial<NatsAccountSigner>;
  try {
    o = JSON.parse(await readFile(path, 'utf8')) as Partial<NatsAccountSigner>;
  } catch (e) {
    throw new ConfigError(`NATS_ACCOUNT_SIGNER ${path} cannot be read`, [(e as Error).message]);
  }
  if (typeof o.account !== 'string' || !/^A[A-Z2-7]{55}$/.test(o.account)) throw new ConfigError(`NATS_ACCOUNT_SIGNER ${path} is invalid`, ['account is not an account public key']);
  if (typeof o.signingKeySeed !== 'string' || !/^SA[A-Z2-7]{56}$/.test(o.signingKeySeed)) throw new ConfigError(`NATS_ACCOUNT_SIGNER ${path} is invalid`, ['signingKeySeed is not an account seed']);
  return { account: o.account, signingKeySeed: o.signingKeySeed };
}

/**
 * Mints and writes credential files under one folder (0700): one file per identity, 0600,
 * rewritten on each call (a restarted worker gets a fresh key). Returns the file's path.
 */
export class NatsCredentialMinter {
  constructor(
    private readonly signer: NatsAccountSigner,
    readonly dir: string,
  ) {}

  async credsFile(id: NatsIdentity): Promise<string> {
    const path = join(this.dir, `${natsUserName(id)}.creds`);
    await writePrivateFile(path, await mintCreds(this.signer, id));
    return path;
  }
}
