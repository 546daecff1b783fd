import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsISO8601, IsOptional, Matches } from 'class-validator';

/**
 * API scopes. `admin`: the catalogue, pipelines, scaling, the runtime and tokens. `platform`:
 * starting, stopping and changing streams. `read`: stream status and lists, thumbnails, metrics.
 * admin implies platform and read; platform implies read (a platform reads the status of the
 * streams it starts; there is no per-stream ownership).
 */
export const API_SCOPES = ['admin', 'platform', 'read'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

const IMPLIES: Record<ApiScope, readonly ApiScope[]> = {
  admin: ['admin', 'platform', 'read'],
  platform: ['platform', 'read'],
  read: ['read'],
};

/** Every scope the given ones grant, implied ones included. */
export function effectiveScopes(scopes: readonly ApiScope[]): Set<ApiScope> {
  return new Set(scopes.flatMap((s) => IMPLIES[s] ?? []));
}

/** Whether a token with `granted` may call a route that needs any one of `needed`. */
export function scopesAllow(granted: readonly ApiScope[], needed: readonly ApiScope[]): boolean {
  const have = effectiveScopes(granted);
  return needed.some((s) => have.has(s));
}

/** `lm_<id>_<secret>`: id 1-32 of [a-z0-9], secret at least 43 base64url characters (32 bytes). */
export const API_TOKEN_PATTERN = /^lm_([a-z0-9]{1,32})_([A-Za-z0-9_-]{43,256})$/;
/** Random bytes behind a generated secret. */
export const API_TOKEN_SECRET_BYTES = 32;
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A token's parts; `secret` never leaves the process that parsed it. */
export interface ParsedApiToken {
  id: string;
  secret: string;
}

/** A new token `lm_<id>_<secret>` with a random id of 12 characters unless one is given. */
export function generateApiToken(id = randomId(12)): { token: string; id: string; secret: string } {
  if (!/^[a-z0-9]{1,32}$/.test(id)) throw new RangeError(`a token id must be 1-32 of [a-z0-9], got "${id}"`);
  const secret = randomBytes(API_TOKEN_SECRET_BYTES).toString('base64url');
  return { token: `lm_${id}_${secret}`, id, secret };
}

function randomId(n: number): string {
  const bytes = randomBytes(n);
  let out = '';
  // 256 is not a multiple of 36: the small bias is harmless for an id that is not a secret.
  for (const b of bytes) out += ID_ALPHABET[b % ID_ALPHABET.length];
  return out;
}

/** The id and secret of a token, or undefined when it does not have the `lm_<id>_<secret>` form. */
export function parseApiToken(token: string): ParsedApiToken | undefined {
  const m = API_TOKEN_PATTERN.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/**
 * Why an operator-chosen token (LIVEMESH_ADMIN_TOKEN) is too weak, or undefined when it is fine:
 * the form above, and a secret that looks random (at least 16 different characters; 32 random
 * bytes in base64url have about 30).
 */
export function weakApiTokenProblem(token: string): string | undefined {
  const parsed = parseApiToken(token);
  if (!parsed) return 'must look like lm_<id>_<secret>: id 1-32 of [a-z0-9], secret at least 43 base64url characters (32 random bytes)';
  if (new Set(parsed.secret).size < 16) return 'its secret does not look random (fewer than 16 different characters); use 32 random bytes in base64url';
  return undefined;
}

/**
 * What is stored of a secret: its SHA-256, hex. A secret of 32 random bytes cannot be guessed from
 * it, so a slow password hash would add nothing but latency to every request.
 */
export function hashApiSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares a presented secret with a stored hash in constant time. */
export function apiSecretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `lm_tokens[<id>]`: an API token as stored. No secret: only its hash. */
export interface ApiTokenRecord {
  id: string;
  name: string;
  scopes: ApiScope[];
  /** hex SHA-256 of the secret. */
  secretSha256: string;
  createdAt: string;
  expiresAt?: string;
  revokedAt?: string;
}

/** What `GET /api/tokens` shows of a token: never the secret nor its hash. */
export interface ApiTokenView {
  id: string;
  name: string;
  scopes: ApiScope[];
  createdAt: string;
  expiresAt?: string;
  revokedAt?: string;
  /** The bootstrap admin token (LIVEMESH_ADMIN_TOKEN or the admin.token file): not stored, cannot be revoked here. */
  bootstrap?: true;
}

/** Body of `POST /api/tokens`. */
export class CreateTokenRequest {
  /** What the token is for, e.g. the platform's name. */
  @Matches(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, { message: "name must be 1-64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit" })
  name!: string;

  /** One or more of admin, platform, read. */
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(3)
  @IsIn(API_SCOPES, { each: true, message: `each scope must be one of ${API_SCOPES.join(', ')}` })
  scopes!: ApiScope[];

  /** When the token stops working (ISO 8601, in the future); without it, it works until revoked. */
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO 8601 date-time, e.g. 2030-01-01T00:00:00Z' })
  expiresAt?: string;
}
