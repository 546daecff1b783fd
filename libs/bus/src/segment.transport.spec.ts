import { inlineCap, isOwnBlob } from './segment.transport.js';

describe('inlineCap', () => {
  it('keeps the configured limit when the server accepts more', () => {
    expect(inlineCap(8 * 1024 * 1024, 2 * 1024 * 1024)).toBe(2 * 1024 * 1024);
  });

  it("caps the limit at the server's max_payload, leaving room for headers", () => {
    // NATS's default max_payload is 1 MiB: a larger segment must go through the object store.
    expect(inlineCap(1024 * 1024, 8 * 1024 * 1024)).toBe(1024 * 1024 - 64 * 1024);
  });

  it('uses the configured limit before the server has said what it accepts', () => {
    expect(inlineCap(undefined, 4096)).toBe(4096);
  });
});

describe('isOwnBlob', () => {
  const meta = { streamId: 's1', hop: 1, seq: 7, rendition: 'main' };

  it("accepts the claim check publishSegment names after the segment's stream, hop, seq and rendition", () => {
    expect(isOwnBlob({ ...meta, blob: 'seg/seg.s1.1.7.main' })).toBe(true);
    expect(isOwnBlob({ ...meta, blob: 'out/out.s1.1.7.main' })).toBe(true);
  });

  it("refuses a blob of another segment, stream or store: a forged Lm-Blob would read and delete someone else's", () => {
    for (const blob of ['seg/seg.s1.1.8.main', 'seg/seg.s2.1.7.main', 'seg/seg.s1.0.7.main', 'seg/seg.s1.1.7.low', 'thumb/s1', 'out/seg.s1.1.7.main', 'seg/out.s1.1.7.main', '']) {
      expect([blob, isOwnBlob({ ...meta, blob })]).toEqual([blob, false]);
    }
  });
});
