import { parsePortRange, srtListenerUrl } from './srt.listeners.js';

describe('SRT listeners', () => {
  it('parses SRT_PORT_RANGE, empty meaning off', () => {
    expect(parsePortRange('9000-9099')).toEqual({ first: 9000, last: 9099 });
    expect(parsePortRange('')).toBeUndefined();
    expect(() => parsePortRange('9100-9000')).toThrow(RangeError);
    expect(() => parsePortRange('0-10')).toThrow(RangeError);
  });

  it('listens on the bind address with the stream key as passphrase', () => {
    expect(srtListenerUrl('127.0.0.1', 9001, 'k3y-0123456789')).toBe('srt://127.0.0.1:9001?mode=listener&passphrase=k3y-0123456789');
  });
});
