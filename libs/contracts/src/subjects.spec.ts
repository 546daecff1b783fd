import { InvalidNameError } from './errors.js';
import { BUCKETS, blobNames, consumers, parseOutputSubject, parseSegmentSubject, serviceOfConsumer, subjects } from './subjects.js';

describe('subjects', () => {
  it('builds the segment subject of a hop and parses it back', () => {
    const s = subjects.segment('watermark', 'room-42', 0);
    expect(s).toBe('lm.seg.watermark.room-42.0');
    expect(parseSegmentSubject(s)).toEqual({ service: 'watermark', streamId: 'room-42', hop: 0 });
  });

  it('gives each service one filter that matches all its streams and hops', () => {
    expect(subjects.serviceFilter('transcode')).toBe('lm.seg.transcode.>');
    expect(consumers.service('transcode')).toBe('svc_transcode');
    expect(serviceOfConsumer(consumers.service('transcode'))).toBe('transcode');
    expect(serviceOfConsumer('delivery')).toBeUndefined();
    expect(serviceOfConsumer('svc_a.b')).toBeUndefined();
  });

  it('puts output blobs in the store that ages with LM_OUT, and every other blob in lm_blobs', () => {
    expect(blobNames.output('out.s1.0.3.main')).toBe('out/out.s1.0.3.main');
    expect(blobNames.storeOf(blobNames.output('out.s1.0.3.main'))).toBe(BUCKETS.outputBlobs);
    expect(blobNames.storeOf(blobNames.segment('seg.s1.0.3.main'))).toBe(BUCKETS.blobs);
    // Written before the output store existed: still read where it was put.
    expect(blobNames.storeOf('seg/out.s1.0.3.main')).toBe(BUCKETS.blobs);
    expect(blobNames.storeOf('thumb/s1.jpg')).toBe(BUCKETS.blobs);
  });

  it.each(['a.b', 'a*', '>', '', 'a b', 'x'.repeat(65), 'ü'])('refuses %j as a stream id', (bad) => {
    expect(() => subjects.segment('watermark', bad, 0)).toThrow(InvalidNameError);
  });

  it('refuses a hop that is not a small integer', () => {
    expect(() => subjects.segment('watermark', 's', -1)).toThrow(InvalidNameError);
    expect(() => subjects.segment('watermark', 's', 1.5)).toThrow(InvalidNameError);
  });

  it('builds output and event subjects', () => {
    expect(subjects.output('s1', '480p')).toBe('lm.out.s1.480p');
    expect(parseOutputSubject('lm.out.s1.480p')).toEqual({ streamId: 's1', rendition: '480p' });
    expect(parseOutputSubject('lm.out.s1')).toBeUndefined();
    expect(subjects.streamEvent('s1', 'chain-ready')).toBe('lm.evt.stream.s1.chain-ready');
    expect(subjects.deadLetter('transcode', 's1')).toBe('lm.dlq.transcode.s1');
  });
});
