import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Publish keys (docs/security.md, "Stream keys"). A key is a password: livemesh keeps only its
 * SHA-256 (a key is random or strength-checked, at least 128 bits, so a slow hash would add
 * nothing), hands the plaintext out once, and compares hashes in constant time.
 */

/**
 * Characters a key may have: base64url's, which fit an RTMP stream name (node-media-server takes
 * only these), a URL path and an SRT passphrase as they are.
 */
export const STREAM_KEY_CHARSET = /^[A-Za-z0-9_-]*$/;
export const STREAM_KEY_MIN_LENGTH = 24;
/** ffmpeg's SRT protocol takes passphrases of 10-64 characters; the key is the stream's SRT passphrase. */
export const STREAM_KEY_MAX_LENGTH = 64;
/** Estimated bits (length x log2 of the pool of the character classes used) a key must reach. */
export const STREAM_KEY_MIN_BITS = 128;
/** Distinct characters a key must have: `aaaa...aB1` reaches the estimate but is no secret. */
export const STREAM_KEY_MIN_DISTINCT = 12;

/** The rule, as error messages and docs state it. */
export const STREAM_KEY_RULE =
  `${STREAM_KEY_MIN_LENGTH}-${STREAM_KEY_MAX_LENGTH} characters of A-Z a-z 0-9 _ -, from at least 2 of the classes ` +
  `(upper case, lower case, digits, _ -), at least ${STREAM_KEY_MIN_DISTINCT} distinct characters, and at least ` +
  `${STREAM_KEY_MIN_BITS} bits estimated as length x log2(size of the classes used)`;

const CLASSES: { test: RegExp; size: number }[] = [
  { test: /[A-Z]/, size: 26 },
  { test: /[a-z]/, size: 26 },
  { test: /[0-9]/, size: 10 },
  { test: /[_-]/, size: 2 },
];

/** Why `key` is not strong enough to be a publish key (empty: it is). Never echoes the key. */
export function streamKeyProblems(key: unknown): string[] {
  if (typeof key !== 'string') return ['publish.key must be a string'];
  const problems: string[] = [];
  if (key.length < STREAM_KEY_MIN_LENGTH || key.length > STREAM_KEY_MAX_LENGTH) {
    problems.push(`publish.key has ${key.length} characters; it needs ${STREAM_KEY_MIN_LENGTH}-${STREAM_KEY_MAX_LENGTH}`);
  }
  if (!STREAM_KEY_CHARSET.test(key)) problems.push('publish.key may only hold A-Z a-z 0-9 _ -');
  const used = CLASSES.filter((c) => c.test.test(key));
  if (used.length < 2) problems.push('publish.key must mix at least 2 character classes (upper case, lower case, digits, _ -)');
  const distinct = new Set(key).size;
  if (distinct < STREAM_KEY_MIN_DISTINCT) problems.push(`publish.key has ${distinct} distinct characters; it needs ${STREAM_KEY_MIN_DISTINCT}`);
  const pool = used.reduce((n, c) => n + c.size, 0);
  const bits = pool > 1 ? Math.floor(key.length * Math.log2(pool)) : 0;
  if (bits < STREAM_KEY_MIN_BITS) problems.push(`publish.key is estimated at ${bits} bits; it needs ${STREAM_KEY_MIN_BITS}`);
  return problems;
}

/** A fresh key: 24 random bytes, base64url (32 characters, 192 bits). */
export function generateStreamKey(): string {
  for (;;) {
    const key = randomBytes(24).toString('base64url');
    // Practically always; a draw that happens to miss the rule (one class only) is drawn again.
    if (streamKeyProblems(key).length === 0) return key;
  }
}

/** What is stored of a key: its SHA-256, lower-case hex (also its name in the `lm_keys` bucket). */
export function hashStreamKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export const KEY_HASH_PATTERN = /^[0-9a-f]{64}$/;

/** Whether two key hashes are equal, in time that does not depend on where they differ. */
export function sameKeyHash(a: string | undefined, b: string | undefined): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || !KEY_HASH_PATTERN.test(a) || !KEY_HASH_PATTERN.test(b)) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/** How logs name a key: `#` and the first 8 hex digits of its hash (matches its `lm_keys` entry). */
export function keyLabel(keyHash: string): string {
  return `#${keyHash.slice(0, 8)}`;
}

/**
 * A secret sealed with AES-256-GCM under the ingest secret (`<LIVEMESH_DATA_DIR>/ingest.secret`
 * or LIVEMESH_INGEST_SECRET): the SRT passphrase of a published stream, which ingest must hand
 * to its SRT listener and so cannot keep as a hash only. base64url fields.
 */
export interface SealedSecret {
  v: 1;
  iv: string;
  tag: string;
  data: string;
}

/** Bytes of the ingest secret (AES-256). */
export const INGEST_SECRET_BYTES = 32;

/** `aad` binds the sealed value to its place (stream id and key hash): copied elsewhere, it does not open. */
export function sealSecret(secret: Buffer, plaintext: string, aad: string): SealedSecret {
  if (secret.length !== INGEST_SECRET_BYTES) throw new RangeError(`the ingest secret must be ${INGEST_SECRET_BYTES} bytes`);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { v: 1, iv: iv.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), data: data.toString('base64url') };
}

/** The plaintext, or undefined when the value is malformed, was sealed under another secret or for another place. */
export function openSecret(secret: Buffer, sealed: unknown, aad: string): string | undefined {
  const s = sealed as Partial<SealedSecret> | undefined;
  if (!s || s.v !== 1 || typeof s.iv !== 'string' || typeof s.tag !== 'string' || typeof s.data !== 'string') return undefined;
  if (secret.length !== INGEST_SECRET_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', secret, Buffer.from(s.iv, 'base64url'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(s.tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(s.data, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** What a stream's sealed SRT passphrase is bound to. */
export function srtPassphraseAad(streamId: string, keyHash: string): string {
  return `lm-srt-passphrase.${streamId}.${keyHash}`;
}

/**
 * Whether a key can be the SRT passphrase of ffmpeg's listener (the rule above guarantees it for
 * new keys; a record written before it may hold another).
 */
export const SRT_PASSPHRASE = /^[A-Za-z0-9_-]{10,64}$/;
