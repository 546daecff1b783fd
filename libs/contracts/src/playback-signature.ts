import { createHmac, timingSafeEqual } from 'node:crypto';

/** Signed playback URLs (docs/security.md, "Signed playback"): bounds and default of ttlSeconds. */
export const PLAYBACK_TTL_DEFAULT = 3600;
export const PLAYBACK_TTL_MIN = 10;
export const PLAYBACK_TTL_MAX = 7 * 24 * 3600;
/** Characters of base64url HMAC-SHA256 kept in a token (32 chars = 192 bits). */
export const PLAYBACK_SIG_LENGTH = 32;

/** Why a signed stream's request is refused: no token, a token that does not verify, or one past its expiry. */
export type PlaybackSignatureReason = 'missing' | 'bad' | 'expired';

const TOKEN = /^(\d{1,12})\.([A-Za-z0-9_-]+)$/;

function signature(secret: Buffer, streamId: string, exp: number): string {
  return createHmac('sha256', secret).update(`${streamId}.${exp}`).digest('base64url').slice(0, PLAYBACK_SIG_LENGTH);
}

/** The token `<exp>.<sig>` that lets `streamId` be played until `exp` (unix seconds). */
export function signPlaybackToken(secret: Buffer, streamId: string, exp: number): string {
  return `${exp}.${signature(secret, streamId, exp)}`;
}

/** The path of a stream's playlist, with the token when there is one: /hls/<id>/t/<token>/index.m3u8. */
export function playbackPath(streamId: string, token?: string): string {
  return token === undefined ? `/hls/${streamId}/index.m3u8` : `/hls/${streamId}/t/${token}/index.m3u8`;
}

/**
 * Checks a token for `streamId` at `nowSeconds`: the signature is compared in constant time,
 * and only a token that verifies is judged on its expiry (an attacker learns nothing from it).
 */
export function verifyPlaybackToken(secret: Buffer, streamId: string, token: string | undefined, nowSeconds: number): { ok: true } | { ok: false; reason: PlaybackSignatureReason } {
  if (token === undefined || token === '') return { ok: false, reason: 'missing' };
  const m = TOKEN.exec(token);
  if (!m) return { ok: false, reason: 'bad' };
  const exp = Number(m[1]);
  const given = Buffer.from(m[2]!);
  const wanted = Buffer.from(signature(secret, streamId, exp));
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return { ok: false, reason: 'bad' };
  if (exp <= nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true };
}
