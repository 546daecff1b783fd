import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '@nats-io/jwt';
import { natsPermissions } from '@livemesh/contracts';
import { createNatsAuthSecrets, inboxPrefixOfCreds, loadOrCreateNatsAuth, mintCreds, natsServerAuthConfig, readAccountSigner, signerOf } from './nats.auth.js';

const jwtOf = (creds: string) => /-----BEGIN NATS USER JWT-----\s*(\S+)\s*------END NATS USER JWT------/.exec(creds)![1]!;

describe('NATS auth', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lm-nats-auth-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("mints a standard credentials file whose JWT carries exactly the component's permissions, signed for the account", async () => {
    const secrets = createNatsAuthSecrets();
    const id = { role: 'worker', service: 'transcode', workerId: 'w1' } as const;
    const creds = await mintCreds(signerOf(secrets), id);
    expect(creds).toMatch(/-----BEGIN USER NKEY SEED-----\s*SU[A-Z2-7]{56}\s*------END USER NKEY SEED------/);
    const claims = decode<{ pub: { allow: string[] }; sub: { allow: string[] }; issuer_account: string }>(jwtOf(creds));
    expect(claims.nats.pub?.allow).toEqual(natsPermissions(id).pub!.allow);
    expect(claims.nats.sub?.allow).toEqual(natsPermissions(id).sub!.allow);
    expect(claims.nats.issuer_account).toBe(signerOf(secrets).account);
    expect(claims.name).toBe('worker.transcode.w1');
    expect(inboxPrefixOfCreds(creds)).toBe('_LM_INBOX.worker.transcode.w1');
  });

  it('leaves the orchestrator unrestricted, without an inbox prefix of its own', async () => {
    const creds = await mintCreds(signerOf(createNatsAuthSecrets()), { role: 'orchestrator' });
    const claims = decode<Record<string, unknown>>(jwtOf(creds));
    expect(claims.nats.pub).toBeUndefined();
    expect(claims.nats.sub).toBeUndefined();
    expect(inboxPrefixOfCreds(creds)).toBeUndefined();
    expect(inboxPrefixOfCreds('not a creds file')).toBeUndefined();
  });

  it('makes the secrets once, owner-only, and reads the same ones back', async () => {
    const first = await loadOrCreateNatsAuth(dir);
    expect(((await stat(join(dir, 'nats-auth.json'))).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(dir)).mode & 0o777).toString(8)).toBe('700');
    expect(await loadOrCreateNatsAuth(dir)).toEqual(first);
    await writeFile(join(dir, 'nats-auth.json'), JSON.stringify({ ...first, signingKeySeed: 'nope' }));
    await expect(loadOrCreateNatsAuth(dir)).rejects.toThrow(/signingKeySeed is not an nkey seed/);
  });

  it('writes a server configuration with the operator, both accounts and the memory resolver', async () => {
    const secrets = createNatsAuthSecrets();
    const conf = await natsServerAuthConfig(secrets);
    expect(conf).toMatch(/^operator: ey/m);
    expect(conf).toMatch(/^resolver: MEMORY$/m);
    expect(conf).toContain(`  ${signerOf(secrets).account}: ey`);
    expect(conf).not.toMatch(/S[OAU][A-Z2-7]{56}/); // no seed in the server's file
  });

  it('refuses a signer file that is not an account and a signing key', async () => {
    const path = join(dir, 'signer.json');
    await writeFile(path, JSON.stringify({ account: 'x', signingKeySeed: 'y' }));
    await expect(readAccountSigner(path)).rejects.toThrow(/account is not an account public key/);
    await expect(readAccountSigner(join(dir, 'missing.json'))).rejects.toThrow(/cannot be read/);
    const signer = signerOf(createNatsAuthSecrets());
    await writeFile(path, JSON.stringify(signer));
    expect(await readAccountSigner(path)).toEqual(signer);
    expect(await readFile(path, 'utf8')).toContain(signer.account);
  });
});
