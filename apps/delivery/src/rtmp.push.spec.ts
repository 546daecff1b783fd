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
