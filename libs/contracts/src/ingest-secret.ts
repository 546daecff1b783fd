import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError } from './errors.js';
import { readOrCreatePrivateFile, readPrivateFile } from './private-file.js';
import { INGEST_SECRET_BYTES } from './stream-key.js';

/** Where the ingest secret lives when LIVEMESH_INGEST_SECRET is empty. */
export function ingestSecretPath(dataDir: string): string {
  return join(dataDir, 'ingest.secret');
}

/**
 * The ingest secret (see stream-key.ts, SealedSecret): LIVEMESH_INGEST_SECRET when set, else the
 * file under the data dir (64 hex digits). `create` (the orchestrator) writes a new random one,
 * mode 0600, when the file is missing; without it (ingest) a missing file is undefined.
 */
export function loadIngestSecret(env: { LIVEMESH_INGEST_SECRET: string; LIVEMESH_DATA_DIR: string }, create: boolean): Promise<Buffer | undefined> {
  return loadDataDirSecret('ingest secret', env.LIVEMESH_INGEST_SECRET, ingestSecretPath(env.LIVEMESH_DATA_DIR), create);
}

/** Where the playback secret lives when LIVEMESH_PLAYBACK_SECRET is empty. */
export function playbackSecretPath(dataDir: string): string {
  return join(dataDir, 'playback.secret');
}

/**
 * The secret signed playback URLs are made with (playback-signature.ts): LIVEMESH_PLAYBACK_SECRET
 * when set, else `<LIVEMESH_DATA_DIR>/playback.secret`, created (mode 0600) on first use.
 */
export async function loadPlaybackSecret(env: { LIVEMESH_PLAYBACK_SECRET: string; LIVEMESH_DATA_DIR: string }): Promise<Buffer> {
  return (await loadDataDirSecret('playback secret', env.LIVEMESH_PLAYBACK_SECRET, playbackSecretPath(env.LIVEMESH_DATA_DIR), true))!;
}

/**
 * A 32-byte secret: `value` (64 hex digits, already validated by Env) when set, else the file at
 * `path`. `create` writes a new random one, mode 0600, when the file is missing; without it a
 * missing file is undefined.
 */
export async function loadDataDirSecret(what: string, value: string, path: string, create: boolean): Promise<Buffer | undefined> {
  if (value) return Buffer.from(value, 'hex');
  const text = create
    ? (await readOrCreatePrivateFile(path, () => `${randomBytes(INGEST_SECRET_BYTES).toString('hex')}\n`)).text
    : await readPrivateFile(path);
  if (text === undefined) return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(text.trim())) throw new ConfigError(what, [`${path} must hold 64 hex digits`]);
  return Buffer.from(text.trim(), 'hex');
}
