import type { ChainSpec, DeliveryStatus, Env, IngestStatus, StreamRecord, StreamView } from '@livemesh/contracts';

/** What ingest and delivery report about a stream (`lm_status`). */
export interface DataPlaneStatus {
  ingest?: IngestStatus;
  delivery?: DeliveryStatus;
}

/** What a caller sees of a stream: the chain in force, where to publish and play it, and its latency. */
export function toStreamView(env: Env, record: StreamRecord, chain: ChainSpec | undefined, status: DataPlaneStatus = {}): StreamView {
  const host = env.LIVEMESH_PUBLIC_HOST;
  const srtPort = status.ingest?.srt?.port;
  const live = record.state === 'starting' || record.state === 'live';
  return {
    id: record.id,
    state: record.state,
    chain: {
      version: chain?.version ?? record.chainVersion,
      hops: (chain?.hops ?? []).map((h) => ({ service: h.service, params: h.params, subject: h.subject, ...(h.fusedThrough !== undefined ? { fusedThrough: h.fusedThrough } : {}), ...(h.fusedInto !== undefined ? { fusedInto: h.fusedInto } : {}), ...(h.handOff ? { handOff: h.handOff } : {}) })),
    },
    publish: {
      rtmp: `rtmp://${host}:${env.RTMP_PORT}/live/${record.key}`,
      // ffmpeg's SRT listener does not check streamid: the key is the passphrase (see ingest).
      ...(live && Number.isInteger(srtPort) ? { srt: `srt://${host}:${srtPort}?streamid=${record.key}&passphrase=${record.key}` } : {}),
    },
    playback: { hls: `http://${host}:${env.HTTP_PORT}/hls/${record.id}/index.m3u8` },
    errors: record.errors,
    ...(status.delivery?.latency ? { latency: status.delivery.latency } : {}),
  };
}
