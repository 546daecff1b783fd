import type { ChainSpec, DeliveryStatus, Env, IngestStatus, StreamRecord, StreamView } from '@livemesh/contracts';

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
export function toStreamView(env: Env, record: StreamRecord, chain: ChainSpec | undefined, status: DataPlaneStatus = {}, key?: string): StreamView {
  const host = env.LIVEMESH_PUBLIC_HOST;
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
    playback: { hls: `http://${host}:${env.HTTP_PORT}/hls/${record.id}/index.m3u8` },
    errors: record.errors,
    ...(status.delivery?.latency ? { latency: status.delivery.latency } : {}),
  };
}
