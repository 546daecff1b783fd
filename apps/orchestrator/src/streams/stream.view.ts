import type { ChainSpec, Env, StreamRecord, StreamView } from '@livemesh/contracts';

/** What a caller sees of a stream: the chain in force and where to publish and play it. */
export function toStreamView(env: Env, record: StreamRecord, chain: ChainSpec | undefined): StreamView {
  const host = env.LIVEMESH_PUBLIC_HOST;
  return {
    id: record.id,
    state: record.state,
    chain: {
      version: chain?.version ?? record.chainVersion,
      hops: (chain?.hops ?? []).map((h) => ({ service: h.service, params: h.params, subject: h.subject })),
    },
    publish: { rtmp: `rtmp://${host}:${env.RTMP_PORT}/live/${record.key}` },
    playback: { hls: `http://${host}:${env.HTTP_PORT}/hls/${record.id}/index.m3u8` },
    errors: record.errors,
  };
}
