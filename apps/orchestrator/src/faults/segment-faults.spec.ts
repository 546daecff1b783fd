import { encodeSegmentHeaders, type BusHeaders, type ConsumerState, type MaxDeliveriesAdvisory } from '@livemesh/bus';
import type { SegmentMeta } from '@livemesh/contracts';
import { FaultRefused, checkAgainstConsumer, crashEvent, crashReason, segmentOf, serviceOfAdvisory } from './segment-faults.js';

const ADVISORY_SUBJECT = '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.LM_SEG.svc_crashy';
const advisory: MaxDeliveriesAdvisory = { stream: 'LM_SEG', consumer: 'svc_crashy', streamSeq: 7, deliveries: 3 };
const consumer: ConsumerState = { name: 'svc_crashy', pending: 0, ackPending: 1, redelivered: 1, deliveredSeq: 9, ackFloorSeq: 6, maxDeliver: 3 };
const meta: SegmentMeta = { streamId: 's1', seq: 4, hop: 1, rendition: 'main', pts: 8, duration: 2, ingestTime: 1, epoch: 0, chainVersion: 1 };

/** Our BusHeaders over plain values (what a stored message carries). */
function headers(values: Record<string, string>): BusHeaders {
  const entries = Object.entries(values).map(([k, v]): [string, string[]] => [k, [v]]);
  return {
    get: (n) => values[n] ?? '',
    has: (n) => n in values,
    keys: () => Object.keys(values),
    values: (n) => (n in values ? [values[n]!] : []),
    [Symbol.iterator]: () => entries[Symbol.iterator](),
  };
}
const stored = (subject: string, m: SegmentMeta = meta) => ({ subject, seq: 7, headers: headers(encodeSegmentHeaders(m, `seg.${m.streamId}.${m.hop}.${m.seq}.main`)) });

describe('segment faults', () => {
  it("names the service of a genuine advisory about LM_SEG's service consumer", () => {
    expect(serviceOfAdvisory(ADVISORY_SUBJECT, advisory)).toBe('crashy');
  });

  it.each([
    ['no advisory at all', ADVISORY_SUBJECT, undefined],
    ['another stream', '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.LM_OUT.svc_crashy', { ...advisory, stream: 'LM_OUT' }],
    ['a consumer that is not a service', '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.LM_SEG.delivery', { ...advisory, consumer: 'delivery' }],
    ['a subject naming another consumer', '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.LM_SEG.svc_other', advisory],
  ])('refuses %s', (_, subject, body) => {
    expect(() => serviceOfAdvisory(subject, body)).toThrow(FaultRefused);
  });

  it('refuses an advisory its consumer contradicts (forged): never delivered, fewer deliveries than max_deliver, no consumer', () => {
    expect(() => checkAgainstConsumer(advisory, consumer)).not.toThrow();
    expect(() => checkAgainstConsumer({ ...advisory, streamSeq: 10 }, consumer)).toThrow(/never delivered/);
    expect(() => checkAgainstConsumer({ ...advisory, deliveries: 2 }, consumer)).toThrow(/below .* max_deliver 3/);
    expect(() => checkAgainstConsumer(advisory, undefined)).toThrow(/does not exist/);
    expect(() => checkAgainstConsumer({ ...advisory, deliveries: 1 }, { ...consumer, maxDeliver: -1 })).not.toThrow();
  });

  it("reads the segment when it is on the service's subject and its headers agree", () => {
    expect(segmentOf('crashy', stored('lm.seg.crashy.s1.1'))).toEqual({ meta, msgId: 'seg.s1.1.4.main' });
  });

  it.each([
    ['under another service', stored('lm.seg.other.s1.1'), /not under lm\.seg\.crashy\.>/],
    ['not a segment subject', stored('lm.out.s1.main'), /not under/],
    ['headers of another stream', stored('lm.seg.crashy.s2.1'), /headers say stream s1/],
    ['no segment headers', { subject: 'lm.seg.crashy.s1.1', seq: 7, headers: headers({}) }, /is not a segment/],
  ])('refuses a stored message %s', (_, msg, why) => {
    expect(() => segmentOf('crashy', msg)).toThrow(FaultRefused);
    expect(() => segmentOf('crashy', msg)).toThrow(why);
  });

  it('says what happened, as one header-safe line and as a dead-letter event', () => {
    const reason = crashReason('crashy', 3);
    expect(reason).toBe('LM_WORKER_CRASHED: delivered 3 times to crashy, never acknowledged: the worker died on every attempt');
    expect(reason).toMatch(/^[\x20-\x7e]+$/);
    expect(crashEvent('crashy', meta, 3, new Date(0))).toEqual({
      streamId: 's1', kind: 'dead-letter', at: '1970-01-01T00:00:00.000Z', message: reason, service: 'crashy', hop: 1, seq: 4,
      data: { code: 'LM_WORKER_CRASHED', attempts: 3 },
    });
  });
});
