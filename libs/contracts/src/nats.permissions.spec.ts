import { BUCKETS, STREAMS, consumers, subjects } from './subjects.js';
import { KEYS_ISSUED_STREAM, natsAllows, natsInboxPrefix, natsPermissions, subjectMatches, type NatsIdentity } from './nats.permissions.js';

const worker: NatsIdentity = { role: 'worker', service: 'transcode', workerId: 'w1' };
const can = (id: NatsIdentity, kind: 'pub' | 'sub', subject: string) => natsAllows(natsPermissions(id), kind, subject);

describe('NATS permissions', () => {
  it('matches subjects as the server does', () => {
    expect(subjectMatches('a.*.c', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.*.c', 'a.b.c.d')).toBe(false);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.b', 'a.b')).toBe(true);
    expect(subjectMatches('a.b', 'a.bc')).toBe(false);
  });

  it('leaves the orchestrator unrestricted: it owns the topology', () => {
    expect(natsPermissions({ role: 'orchestrator' })).toEqual({});
    expect(can({ role: 'orchestrator' }, 'pub', '$JS.API.STREAM.DELETE.LM_SEG')).toBe(true);
  });

  it("lets a worker pull, ack and inspect only its own service's consumer", () => {
    const own = consumers.service('transcode');
    expect(can(worker, 'pub', `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.segments}.${own}`)).toBe(true);
    expect(can(worker, 'pub', `$JS.ACK.${STREAMS.segments}.${own}.1.2.3.4.5.6`)).toBe(true);
    expect(can(worker, 'pub', `$JS.API.CONSUMER.INFO.${STREAMS.segments}.${own}`)).toBe(true);
    const other = consumers.service('watermark');
    expect(can(worker, 'pub', `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.segments}.${other}`)).toBe(false);
    expect(can(worker, 'pub', `$JS.ACK.${STREAMS.segments}.${other}.1.2.3.4.5.6`)).toBe(false);
  });

  it('gives a worker no stream or consumer administration on the segment stream', () => {
    for (const s of [
      `$JS.API.STREAM.CREATE.X`,
      `$JS.API.STREAM.DELETE.${STREAMS.segments}`,
      `$JS.API.STREAM.UPDATE.${STREAMS.segments}`,
      `$JS.API.STREAM.PURGE.${STREAMS.segments}`,
      `$JS.API.CONSUMER.CREATE.${STREAMS.segments}`,
      `$JS.API.CONSUMER.CREATE.${STREAMS.segments}.x.lm.seg.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${STREAMS.segments}.x`,
      `$JS.API.CONSUMER.DELETE.${STREAMS.segments}.${consumers.service('transcode')}`,
    ]) expect([s, can(worker, 'pub', s)]).toEqual([s, false]);
  });

  it('lets a worker publish segments, output, its own dead letters and stream events, but no platform event', () => {
    expect(can(worker, 'pub', subjects.segment('watermark', 's1', 1))).toBe(true);
    expect(can(worker, 'pub', subjects.output('s1', 'main'))).toBe(true);
    expect(can(worker, 'pub', subjects.deadLetter('transcode', 's1'))).toBe(true);
    expect(can(worker, 'pub', subjects.deadLetter('watermark', 's1'))).toBe(false);
    expect(can(worker, 'pub', subjects.streamEvent('s1', 'segment-failed'))).toBe(true);
    expect(can(worker, 'pub', subjects.platformStarted)).toBe(false);
  });

  it('lets a worker read chains, write its own heartbeat and carry keys, and touch no other bucket', () => {
    expect(can(worker, 'pub', `$JS.API.DIRECT.GET.KV_${BUCKETS.chains}.$KV.${BUCKETS.chains}.s1`)).toBe(true);
    expect(can(worker, 'pub', `$KV.${BUCKETS.chains}.s1`)).toBe(false);
    expect(can(worker, 'pub', `$KV.${BUCKETS.workers}.transcode.w1`)).toBe(true);
    expect(can(worker, 'pub', `$KV.${BUCKETS.workers}.transcode.w2`)).toBe(false);
    expect(can(worker, 'pub', `$KV.${BUCKETS.carry}.s1.0.main`)).toBe(true);
    for (const b of [BUCKETS.catalogue, BUCKETS.keys, BUCKETS.streams, BUCKETS.ingest, BUCKETS.status]) {
      expect([b, can(worker, 'pub', `$KV.${b}.x`)]).toEqual([b, false]);
      expect([b, can(worker, 'pub', `$JS.API.DIRECT.GET.KV_${b}.$KV.${b}.x`)]).toEqual([b, false]);
    }
  });

  it("lets a service-wide (swarm) worker credential write any replica's heartbeat of its service and nothing more", () => {
    const replicas: NatsIdentity = { role: 'worker', service: 'transcode' };
    expect(can(replicas, 'pub', `$KV.${BUCKETS.workers}.transcode.lm-transcode-1-abc`)).toBe(true);
    expect(can(replicas, 'pub', `$KV.${BUCKETS.workers}.watermark.lm-watermark-1-abc`)).toBe(false);
    expect(can(replicas, 'pub', `$KV.${BUCKETS.workers}.transcode.a.b`)).toBe(false);
    expect(can(replicas, 'pub', `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.segments}.${consumers.service('transcode')}`)).toBe(true);
    expect(can(replicas, 'pub', `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.segments}.${consumers.service('watermark')}`)).toBe(false);
    expect(natsInboxPrefix(replicas)).toBe('_LM_INBOX.workers.transcode');
    expect(can(replicas, 'sub', `${natsInboxPrefix(worker)}.abc`)).toBe(false);
    expect(can(worker, 'sub', `${natsInboxPrefix(replicas)}.abc`)).toBe(false);
  });

  it('gives each identity an inbox only it may subscribe to', () => {
    const other: NatsIdentity = { role: 'worker', service: 'watermark', workerId: 'w1' };
    expect(can(worker, 'sub', `${natsInboxPrefix(worker)}.abc`)).toBe(true);
    expect(can(worker, 'sub', `${natsInboxPrefix(other)}.abc`)).toBe(false);
    expect(can(worker, 'sub', '_INBOX.abc')).toBe(false);
    expect(can(worker, 'sub', subjects.allSegments)).toBe(false);
    expect(natsInboxPrefix(worker)).not.toBe(natsInboxPrefix({ role: 'worker', service: 'transcode', workerId: 'w2' }));
  });

  it('lets the platform publish platform events and read issued keys, nothing else', () => {
    const p: NatsIdentity = { role: 'platform' };
    expect(can(p, 'pub', subjects.platformStarted)).toBe(true);
    expect(can(p, 'pub', subjects.streamEvent('s1', 'ended'))).toBe(false);
    expect(can(p, 'pub', subjects.segment('transcode', 's1', 0))).toBe(false);
    expect(can(p, 'pub', `$JS.API.CONSUMER.CREATE.${KEYS_ISSUED_STREAM}`)).toBe(true);
    expect(can(p, 'pub', `$JS.API.CONSUMER.CREATE.${STREAMS.events}`)).toBe(false);
    expect(can(p, 'pub', `$KV.${BUCKETS.keys}.x`)).toBe(false);
    expect(can({ role: 'worker', service: 'a', workerId: 'b' }, 'pub', `$JS.API.CONSUMER.CREATE.${KEYS_ISSUED_STREAM}`)).toBe(false);
  });

  it('refuses ids that would widen a permission', () => {
    expect(() => natsPermissions({ role: 'worker', service: 'a.>', workerId: 'w' })).toThrow(/not a valid name/);
    expect(() => natsPermissions({ role: 'worker', service: 'a', workerId: '*' })).toThrow(/not a valid name/);
  });
});
