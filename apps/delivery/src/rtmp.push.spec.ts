import { checkPushUrl } from '@livemesh/media';
import { median } from './delivery.status.js';
import { pushArgs, redactTarget } from './rtmp.push.js';

describe('pushArgs', () => {
  const args = pushArgs(checkPushUrl('rtmp://cdn.example.com/live/secret-key'));
  const after = (flag: string, from = 0) => args[args.indexOf(flag, from) + 1];

  it('copies MPEG-TS from stdin to FLV over RTMP', () => {
    expect(after('-i')).toBe('pipe:0');
    expect(after('-c')).toBe('copy');
    expect(after('-f', args.indexOf('-c'))).toBe('flv');
    expect(args.at(-1)).toBe('rtmp://cdn.example.com/live/secret-key');
  });

  it('whitelists pipe for the input and only rtmp,tcp for the output', () => {
    expect(after('-protocol_whitelist')).toBe('pipe');
    expect(after('-protocol_whitelist', args.indexOf('-c'))).toBe('rtmp,tcp');
  });

  it('connects to the checked address, announcing the name in tcUrl (no second lookup)', () => {
    const pinned = pushArgs({ ...checkPushUrl('rtmp://cdn.example.com:1935/live/secret-key'), address: '93.184.216.34' });
    expect(pinned.at(-1)).toBe('rtmp://93.184.216.34:1935/live/secret-key');
    expect(pinned[pinned.indexOf('-rtmp_tcurl') + 1]).toBe('rtmp://cdn.example.com:1935/live');
    expect(pinned).not.toContain('-http_proxy');
  });

  it('sends rtmps through the egress proxy with its name (TLS), and refuses to run one without it', () => {
    const target = { ...checkPushUrl('rtmps://cdn.example.com/live/secret-key'), address: '93.184.216.34' };
    const tls = pushArgs({ ...target, httpProxy: 'http://127.0.0.1:4000' });
    expect(tls.at(-1)).toBe('rtmps://cdn.example.com/live/secret-key');
    expect(tls[tls.indexOf('-http_proxy') + 1]).toBe('http://127.0.0.1:4000');
    expect(tls.indexOf('-http_proxy')).toBeGreaterThan(tls.indexOf('-c'));
    expect(tls).not.toContain('-rtmp_tcurl');
    expect(() => pushArgs(target)).toThrow(/needs the egress proxy/);
  });
});

describe('redactTarget', () => {
  it('keeps scheme, host and app, never the stream key or credentials', () => {
    expect(redactTarget('rtmp://user:pw@cdn.example.com:1935/live/secret-key?token=1')).toBe('rtmp://cdn.example.com:1935/live/…');
    expect(redactTarget('not a url')).toBe('not a ur…');
  });
});

describe('median', () => {
  it('takes the middle, or the mean of the two middles', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(median([7])).toBe(7);
  });
});
