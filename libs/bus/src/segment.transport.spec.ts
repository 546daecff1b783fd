import { inlineCap } from './segment.transport.js';

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
