import { STREAMS } from '@livemesh/contracts';
import { outputBlobTtlSeconds, topologyFromEnv, topologyStreams } from './topology.js';

describe('outputBlobTtlSeconds', () => {
  it('outlives the LM_OUT message by a tenth of the retention, at most a minute', () => {
    expect(outputBlobTtlSeconds(10)).toBe(11);
    expect(outputBlobTtlSeconds(600)).toBe(660);
    expect(outputBlobTtlSeconds(86_400)).toBe(86_460);
  });
});

describe('topologyStreams', () => {
  const env = { OUTPUT_RETENTION_SECONDS: 600, SEGMENT_MAX_AGE_SECONDS: 600, SEGMENTS_PER_STREAM: 600, SEGMENT_STORE_BYTES: 2 ** 30, BLOB_STORE_BYTES: 2 ** 30, BLOB_TTL_SECONDS: 3600 };

  it('gives every stream the replicas NATS_REPLICAS asks for', () => {
    const streams = topologyStreams(topologyFromEnv({ ...env, NATS_REPLICAS: 3, SEGMENT_STORAGE: 'file' }));
    expect(streams.map((s) => s.name)).toEqual(expect.arrayContaining([STREAMS.segments, STREAMS.output, STREAMS.events, STREAMS.deadLetter, STREAMS.segmentFaults, STREAMS.keys]));
    expect(streams.map((s) => [s.name, s.num_replicas])).toEqual(streams.map((s) => [s.name, 3]));
  });

  it('keeps LM_SEG on file unless SEGMENT_STORAGE says memory, and every other stream on its own storage', () => {
    const storage = (v: 'file' | 'memory') => Object.fromEntries(topologyStreams(topologyFromEnv({ ...env, NATS_REPLICAS: 3, SEGMENT_STORAGE: v })).map((s) => [s.name, s.storage]));
    expect(storage('memory')[STREAMS.segments]).toBe('memory');
    expect(storage('file')[STREAMS.segments]).toBe('file');
    expect({ ...storage('memory'), [STREAMS.segments]: 'x' }).toEqual({ ...storage('file'), [STREAMS.segments]: 'x' });
  });

  it('keeps one replica by default (one nats-server)', () => {
    expect(new Set(topologyStreams({ outputRetentionSeconds: 600 }).map((s) => s.num_replicas))).toEqual(new Set([1]));
  });
});
