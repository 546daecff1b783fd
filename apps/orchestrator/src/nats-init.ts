// Compose's one-shot NATS set-up (docker-compose.yml, service nats-init; docs/security.md,
// "Under Compose"): `node nats-init.js <dir> <store dir> nats=<uid> orchestrator=<uid> ...`.
// Runs as root with CAP_CHOWN only, writes the server's configuration and one credential per
// component (each owned by that component's uid, 0400) and exits.
import { prepareComposeNats, parseComposeUsers } from '@livemesh/bus';

const [dir, storeDir, ...users] = process.argv.slice(2);
try {
  if (!dir?.startsWith('/') || !storeDir?.startsWith('/')) throw new Error('usage: nats-init <config dir> <JetStream store dir> nats=<uid> orchestrator=<uid> ingest=<uid> delivery=<uid> [worker.<service>=<uid> ...] (absolute paths)');
  const done = await prepareComposeNats(dir, storeDir, parseComposeUsers(users));
  process.stdout.write(`nats-init: ${done.config}, ${done.signerFile} and ${Object.keys(done.creds).length} credentials (${Object.keys(done.creds).join(', ')}) under ${dir}\n`);
} catch (e) {
  process.stderr.write(`nats-init: ${(e as Error).message}\n`);
  process.exit(1);
}
