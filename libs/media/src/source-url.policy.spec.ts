import { SourceUrlError } from '@livemesh/contracts';
import { checkPushUrl, checkSourceUrl } from './source-url.policy.js';

describe('checkSourceUrl', () => {
  it.each([
    ['rtmp://cdn.example.com/live/abc', ['rtmp', 'tcp']],
    ['rtmps://cdn.example.com:443/live/abc', ['rtmps', 'tcp', 'tls']],
    ['srt://127.0.0.1:9000?streamid=x', ['srt', 'udp']],
    ['http://127.0.0.1:8080/hls/index.m3u8', ['http', 'https', 'tcp', 'tls', 'crypto', 'hls']],
    ['https://example.com/a.m3u8', ['https', 'http', 'tcp', 'tls', 'crypto', 'hls']],
  ])('allows %s with a whitelist matching its scheme', (url, protocols) => {
    const checked = checkSourceUrl(url);
    expect(checked.url).toBe(url);
    expect(checked.protocols).toEqual(protocols);
    expect(checked.protocols).not.toContain('file');
  });

  it.each([
    ['file:///etc/passwd', /scheme "file:" is not allowed/],
    ['concat:/a.ts|/b.ts', /scheme "concat:" is not allowed/],
    ['subfile,,start,0,end,10,,:/etc/passwd', /no scheme|not allowed/],
    ['data:text/plain;base64,AAAA', /scheme "data:" is not allowed/],
    ['pipe:0', /scheme "pipe:" is not allowed/],
    ['/var/media/in.flv', /no scheme: a local path/],
    ['./in.flv', /no scheme/],
    ['-i', /no scheme/],
    ['', /empty/],
    ['rtmp://host/live/a b', /whitespace/],
    ['http://host/a\nb', /whitespace or control/],
    ['RTMP://host/live/a', /lowercase/],
    ['rtmp:host/live/a', /must be rtmp:\/\/host/],
    ['http:///nohost', /cannot be parsed|must be http:\/\/host/],
    ['gopher://host/x', /not allowed/],
    ['tcp://127.0.0.1:1234', /not allowed/],
    ['hls+http://host/a.m3u8', /not allowed/],
  ])('refuses %s', (url, why) => {
    expect(() => checkSourceUrl(url)).toThrow(SourceUrlError);
    expect(() => checkSourceUrl(url)).toThrow(why);
  });

  it('refuses an overlong URL', () => {
    expect(() => checkSourceUrl(`http://h/${'a'.repeat(3000)}`)).toThrow(/longer than 2048/);
  });
});

describe('checkPushUrl', () => {
  it('allows rtmp:// and rtmps:// targets with a matching whitelist', () => {
    expect(checkPushUrl('rtmp://cdn.example.com/app/key').protocols).toEqual(['rtmp', 'tcp']);
    expect(checkPushUrl('rtmps://cdn.example.com:443/app/key').protocols).toEqual(['rtmps', 'tcp', 'tls']);
  });

  it.each([
    ['file:///tmp/out.flv', /RTMP output URL scheme "file:" is not allowed/],
    ['/tmp/out.flv', /no scheme/],
    ['http://host/x', /scheme "http:" is not allowed/],
    ['srt://host:9000', /not allowed/],
    ['rtmp://host/a b', /whitespace/],
    ['constructor://x', /not allowed/],
  ])('refuses %s', (url, why) => {
    expect(() => checkPushUrl(url)).toThrow(SourceUrlError);
    expect(() => checkPushUrl(url)).toThrow(why);
  });
});
