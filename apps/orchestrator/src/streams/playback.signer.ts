import { Inject, Injectable } from '@nestjs/common';
import { PLAYBACK_TTL_DEFAULT, loadPlaybackSecret, signPlaybackToken, verifyPlaybackToken, type PlaybackSignatureReason, type StreamRecord, ENV, type OrchestratorSettings } from '@livemesh/contracts';

/**
 * Signs and checks playback tokens (docs/security.md, "Signed playback") with the playback
 * secret. It is loaded (or created, mode 0600) on first use: `ready()` before `sign` or `verify`.
 */
@Injectable()
export class PlaybackSigner {
  private loading?: Promise<Buffer>;
  private secret?: Buffer;

  constructor(@Inject(ENV) private readonly env: OrchestratorSettings) {}

  /** Loads the secret once; a failure (unreadable file) is retried on the next call. */
  async ready(): Promise<void> {
    this.loading ??= loadPlaybackSecret(this.env).catch((e: unknown) => {
      this.loading = undefined;
      throw e;
    });
    this.secret = await this.loading;
  }

  /** A token for `streamId` valid `ttlSeconds` from `nowMs`, and its expiry (unix seconds). */
  sign(streamId: string, ttlSeconds: number, nowMs = Date.now()): { token: string; exp: number } {
    const exp = Math.floor(nowMs / 1000) + ttlSeconds;
    return { token: signPlaybackToken(this.key(), streamId, exp), exp };
  }

  verify(streamId: string, token: string | undefined, nowMs = Date.now()): { ok: true } | { ok: false; reason: PlaybackSignatureReason } {
    return verifyPlaybackToken(this.key(), streamId, token, Math.floor(nowMs / 1000));
  }

  private key(): Buffer {
    if (!this.secret) throw new Error('the playback secret is not loaded: call ready() first');
    return this.secret;
  }
}

/** Whether a stream's playback needs a signed URL, and for how long the one in its view is valid. */
export function playbackPolicy(record: StreamRecord): { signed: false } | { signed: true; ttlSeconds: number } {
  const p = record.request?.playback;
  return p?.signed === true ? { signed: true, ttlSeconds: p.ttlSeconds ?? PLAYBACK_TTL_DEFAULT } : { signed: false };
}
