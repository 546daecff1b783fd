import { playbackPath, type ChainSpec, type DeliveryStatus, type IngestStatus, type StreamRecord, type StreamView, type OrchestratorSettings, type Env } from '@livemesh/contracts';
import { playbackPolicy, type PlaybackSigner } from './playback.signer.js';

/** What ingest and delivery report about a stream (`lm_status`). */
export interface DataPlaneStatus {
  ingest?: IngestStatus;
  delivery?: DeliveryStatus;
}

/** The RTMP publish URL: with the key, or (anywhere but the answer that hands the key out) the application URL. */
export function rtmpPublishUrl(env: Pick<Env, 'LIVEMESH_PUBLIC_HOST' | 'RTMP_PORT'>, key?: string): string {
  return `rtmp://${env.LIVEMESH_PUBLIC_HOST}:${env.RTMP_PORT}/live${key === undefined ? '' : `/${key}`}`;
}

/**
 * What a caller sees of a stream: the chain in force, where to publish and play it, and its
 * latency. `key` only in the answer that creates the stream or rotates its key (docs/api.md).
 */
export function toStreamView(env: OrchestratorSettings, record: StreamRecord, chain: ChainSpec | undefined, status: DataPlaneStatus = {}, key?: string, signer?: PlaybackSigner): StreamView {
  const host = env.LIVEMESH_PUBLIC_HOST;
  const policy = playbackPolicy(record);
  const signed = policy.signed && signer ? signer.sign(record.id, policy.ttlSeconds) : undefined;
  const srtPort = status.ingest?.srt?.port;
  const live = record.state === 'starting' || record.state === 'live';
  return {
    id: record.id,
    state: record.state,
    chain: {
      version: chain?.version ?? record.chainVersion,
      hops: (chain?.hops ?? []).map((h) => ({ service: h.service, params: h.params, subject: h.subject, ...(h.fusedThrough !== undefined ? { fusedThrough: h.fusedThrough } : {}), ...(h.fusedInto !== undefined ? { fusedInto: h.fusedInto } : {}), ...(h.handOff ? { handOff: h.handOff } : {}), ...(h.transfer ? { transfer: h.transfer } : {}) })),
    },
    publish: {
      rtmp: rtmpPublishUrl(env, key),
      // ffmpeg's SRT listener does not check streamid: the key is the passphrase (see ingest).
      ...(live && Number.isInteger(srtPort) ? { srt: `srt://${host}:${srtPort}${key === undefined ? '' : `?streamid=${key}&passphrase=${key}`}` } : {}),
      ...(key === undefined ? {} : { key }),
    },
    playback: signed ? signedPlayback(env, record.id, signed) : { hls: playbackUrl(env, record.id) },
    errors: record.errors,
    ...(status.delivery?.latency ? { latency: status.delivery.latency } : {}),
  };
}

/** The playlist URL viewers open, through the orchestrator's /hls proxy; with a token for a signed stream. */
export function playbackUrl(env: Pick<Env, 'LIVEMESH_PUBLIC_HOST' | 'HTTP_PORT'>, streamId: string, token?: string): string {
  return `http://${env.LIVEMESH_PUBLIC_HOST}:${env.HTTP_PORT}${playbackPath(streamId, token)}`;
}

/** A signed stream's `playback`: the URL with `signed` = { token, exp }, and when it stops working. */
export function signedPlayback(env: Pick<Env, 'LIVEMESH_PUBLIC_HOST' | 'HTTP_PORT'>, streamId: string, signed: { token: string; exp: number }): StreamView['playback'] {
  return { hls: playbackUrl(env, streamId, signed.token), signed: true, expiresAt: new Date(signed.exp * 1000).toISOString() };
}
