import { parseMaxDeliveriesAdvisory } from './advisories.js';

const msg = (body: unknown) => ({ data: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)) });
const advisory = { type: 'io.nats.jetstream.advisory.v1.max_deliver', stream: 'LM_SEG', consumer: 'svc_x', stream_seq: 42, deliveries: 3 };

describe('parseMaxDeliveriesAdvisory', () => {
  it("reads the server's advisory", () => {
    expect(parseMaxDeliveriesAdvisory(msg(advisory))).toEqual({ stream: 'LM_SEG', consumer: 'svc_x', streamSeq: 42, deliveries: 3 });
  });

  it.each([
    ['not JSON', '{nope'],
    ['another advisory', { ...advisory, type: 'io.nats.jetstream.advisory.v1.nak' }],
    ['no sequence', { ...advisory, stream_seq: undefined }],
    ['a sequence that is not a positive integer', { ...advisory, stream_seq: 1.5 }],
    ['a forged huge sequence', { ...advisory, stream_seq: 1e300 }],
    ['no consumer', { ...advisory, consumer: 7 }],
  ])('passes over %s', (_why, body) => {
    expect(parseMaxDeliveriesAdvisory(msg(body))).toBeUndefined();
  });
});
