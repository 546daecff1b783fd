import { PrivateAddressError, SourceUrlError } from '@livemesh/contracts';
import { checkHostAddresses, checkOutboundAddresses, checkPushUrl, checkSourceUrl, parseAddressRanges, parseIp, pinnedTarget, pinnedUrl, refusedAddress, rtmpApp } from './source-url.policy.js';

describe('checkSourceUrl', () => {
  it.each([
    ['rtmp://cdn.example.com/live/abc', ['rtmp', 'tcp']],
    ['rtmps://cdn.example.com:443/live/abc', ['rtmps', 'tcp', 'tls', 'httpproxy']],
    ['srt://127.0.0.1:9000?streamid=x', ['srt', 'udp']],
    ['http://127.0.0.1:8080/hls/index.m3u8', ['http', 'https', 'tcp', 'tls', 'crypto', 'hls', 'httpproxy']],
    ['https://example.com/a.m3u8', ['https', 'http', 'tcp', 'tls', 'crypto', 'hls', 'httpproxy']],
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
    expect(checkPushUrl('rtmps://cdn.example.com:443/app/key').protocols).toEqual(['rtmps', 'tcp', 'tls', 'httpproxy']);
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

describe('SRT options', () => {
  it('allows the caller options ingest needs', () => {
    expect(checkSourceUrl('srt://h:9000?streamid=live/abc&latency=200&passphrase=0123456789ab&pbkeylen=16&mode=caller').protocols).toEqual(['srt', 'udp']);
  });

  it.each([
    ['srt://h:9000?mode=listener', /option mode has a value/],
    ['srt://h:9000?mode=rendezvous', /option mode has a value/],
    ['srt://h:9000?localport=22', /option "localport" is not allowed/],
    ['srt://h:9000?rcvbuf=999999999', /"rcvbuf" is not allowed/],
    ['srt://h:9000?constructor=1', /"constructor" is not allowed/],
    ['srt://h:9000?latency=1e9', /latency has a value/],
  ])('refuses %s', (url, why) => {
    expect(() => checkSourceUrl(url)).toThrow(SourceUrlError);
    expect(() => checkSourceUrl(url)).toThrow(why);
  });
});

describe('outbound addresses', () => {
  const none = parseAddressRanges('');

  it.each([
    ['127.0.0.1', /loopback/],
    ['127.255.1.2', /loopback/],
    ['10.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.100.100.200', /carrier-grade NAT/],
    ['169.254.169.254', /cloud metadata/],
    ['169.254.1.1', /link-local/],
    ['0.0.0.0', /unspecified/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['255.255.255.255', /reserved or broadcast/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fd00::1', /unique local/],
    ['fc12::1', /unique local/],
    ['fd00:ec2::254', /cloud metadata/],
    ['fe80::1', /link-local/],
    ['ff02::1', /multicast/],
    // IPv4 inside IPv6: what the socket reaches is the IPv4 address.
    ['::ffff:127.0.0.1', /127\.0\.0\.1 is a loopback/],
    ['::ffff:7f00:1', /127\.0\.0\.1 is a loopback/],
    ['::ffff:169.254.169.254', /cloud metadata/],
    ['::ffff:a9fe:a9fe', /cloud metadata/],
    ['::10.0.0.1', /private/],
    ['64:ff9b::a9fe:a9fe', /cloud metadata/],
    ['2002:7f00:1::', /loopback/],
    ['[::1]', /loopback/],
    // Spellings getaddrinfo (so ffmpeg) reads as IPv4.
    ['2130706433', /127\.0\.0\.1 is a loopback/],
    ['0x7f000001', /127\.0\.0\.1 is a loopback/],
    ['0177.0.0.1', /127\.0\.0\.1 is a loopback/],
    ['0x7f.1', /127\.0\.0\.1 is a loopback/],
    ['127.1', /127\.0\.0\.1 is a loopback/],
    ['0xa9.0xfe.0xa9.0xfe', /cloud metadata/],
    ['2852039166', /cloud metadata/],
    ['0', /unspecified/],
  ])('refuses %s', (address, why) => {
    expect(refusedAddress(address, none)).toMatch(why);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2a00:1450:4001:82a::200e', '172.32.0.1', '100.128.0.1', '11.0.0.1'])('allows public %s', (address) => {
    expect(refusedAddress(address, none)).toBeUndefined();
  });

  it('allows what the operator allowed, and only that', () => {
    const allow = parseAddressRanges('127.0.0.0/8, ::1/128,10.20.0.0/16');
    expect(refusedAddress('127.0.0.1', allow)).toBeUndefined();
    expect(refusedAddress('::1', allow)).toBeUndefined();
    expect(refusedAddress('::ffff:127.0.0.1', allow)).toBeUndefined();
    expect(refusedAddress('10.20.3.4', allow)).toBeUndefined();
    expect(refusedAddress('10.21.3.4', allow)).toMatch(/private/);
    expect(refusedAddress('169.254.169.254', allow)).toMatch(/metadata/);
  });

  it('reads ranges strictly', () => {
    expect(parseAddressRanges('127.0.0.0/8,::1/128')).toHaveLength(2);
    expect(() => parseAddressRanges('127.0.0.0/33')).toThrow(/not a CIDR/);
    expect(() => parseAddressRanges('localhost/8')).toThrow(/not a CIDR/);
    expect(() => parseAddressRanges('2130706433/8')).toThrow(/not a CIDR/);
    expect(() => parseAddressRanges('127.0.0.1')).toThrow(/not a CIDR/);
  });

  it('tells addresses from names', () => {
    expect(parseIp('example.com')).toBeUndefined();
    expect(parseIp('1.2.3.4.5')).toBeUndefined();
    expect(parseIp('256.1.1.1')).toBeUndefined();
    expect(parseIp('0x')).toEqual(Uint8Array.from([0, 0, 0, 0]));
  });

  describe('checkOutboundAddresses over a resolver', () => {
    const resolver = (answers: Record<string, string[]>) => async (host: string) => {
      const a = answers[host];
      if (!a) throw new Error(`ENOTFOUND ${host}`);
      return a;
    };
    const lookup = resolver({ 'cdn.example.com': ['93.184.216.34', '2606:2800:220:1::1'], 'rebind.example.com': ['93.184.216.34', '10.0.0.5'], 'meta.example.com': ['169.254.169.254'] });

    it('passes a name whose every address is public', async () => {
      await expect(checkOutboundAddresses('source URL', 'rtmp://cdn.example.com/live/x', [], lookup)).resolves.toEqual(['93.184.216.34', '2606:2800:220:1::1']);
    });

    it('refuses a name with one private address among public ones, and metadata names', async () => {
      await expect(checkOutboundAddresses('source URL', 'rtmp://rebind.example.com/live/x', [], lookup)).rejects.toThrow(PrivateAddressError);
      await expect(checkOutboundAddresses('source URL', 'https://meta.example.com/a.m3u8', [], lookup)).rejects.toThrow(/leads to 169\.254\.169\.254 is a cloud metadata address/);
    });

    it('checks literal hosts without asking DNS, in every spelling', async () => {
      const never = async (): Promise<string[]> => {
        throw new Error('DNS asked');
      };
      for (const url of ['rtmp://127.0.0.1/live/x', 'rtmp://2130706433/live/x', 'rtmp://0x7f.1/live/x', 'http://0177.0.0.1/a.m3u8', 'srt://[::ffff:127.0.0.1]:9000', 'rtmp://localhost/live/x', 'rtmp://LOCALHOST./live/x', 'http://a.localhost/x']) {
        await expect(checkOutboundAddresses('source URL', url, [], never)).rejects.toThrow(/loopback/);
      }
      await expect(checkOutboundAddresses('source URL', 'rtmp://127.0.0.1/live/x', parseAddressRanges('127.0.0.0/8'), never)).resolves.toEqual(['127.0.0.1']);
    });

    it('refuses a name that does not resolve, as a SourceUrlError', async () => {
      await expect(checkOutboundAddresses('RTMP output URL', 'rtmp://nowhere.invalid/x', [], lookup)).rejects.toThrow(/RTMP output URL host nowhere\.invalid cannot be resolved/);
    });
  });

  describe('pinning a checked address into the URL (no second lookup)', () => {
    it('replaces the host only, keeping user info, port, path and query', () => {
      expect(pinnedUrl('srt://src.example.com:9000?streamid=a&passphrase=0123456789', '93.184.216.34')).toBe('srt://93.184.216.34:9000?streamid=a&passphrase=0123456789');
      expect(pinnedUrl('rtmp://u:p@cdn.example.com/live/k', '2606:2800:220:1::1')).toBe('rtmp://u:p@[2606:2800:220:1:0:0:0:1]/live/k');
      expect(pinnedUrl('rtmp://[2606:2800:220:1::1]:1935/live/k', '2606:2800:220:1::1')).toBe('rtmp://[2606:2800:220:1:0:0:0:1]:1935/live/k');
      expect(() => pinnedUrl('rtmp://cdn.example.com/live/k', 'cdn.example.com')).toThrow(SourceUrlError);
    });

    it('gives RTMP the name back in tcUrl, with the application ffmpeg reads from the path', () => {
      expect(pinnedTarget('rtmp://cdn.example.com:1935/live/key?token=t', '93.184.216.34')).toEqual({ url: 'rtmp://93.184.216.34:1935/live/key?token=t', rtmpTcUrl: 'rtmp://cdn.example.com:1935/live' });
      expect(pinnedTarget('rtmp://cdn.example.com/app/inst/key', '93.184.216.34')).toEqual({ url: 'rtmp://93.184.216.34/app/inst/key', rtmpTcUrl: 'rtmp://cdn.example.com/app/inst' });
      expect(pinnedTarget('srt://src.example.com:9000', '93.184.216.34')).toEqual({ url: 'srt://93.184.216.34:9000' });
      // TLS sends and checks the name: rtmps and http(s) are not rewritten.
      expect(pinnedTarget('rtmps://cdn.example.com/live/key', '93.184.216.34')).toEqual({ url: 'rtmps://cdn.example.com/live/key' });
      expect(pinnedTarget('https://cdn.example.com/a.m3u8', '93.184.216.34')).toEqual({ url: 'https://cdn.example.com/a.m3u8' });
      expect(rtmpApp('/live')).toBe('live');
      expect(rtmpApp('/app/inst:key/x')).toBe('app');
      expect(rtmpApp('/ondemand/a/b')).toBe('ondemand');
    });

    it('checks a bare host as a request or CONNECT names it, and returns addresses in a connectable spelling', async () => {
      const never = async (): Promise<string[]> => {
        throw new Error('DNS asked');
      };
      await expect(checkHostAddresses('proxied', '0x7f.1', parseAddressRanges('127.0.0.0/8'), never)).resolves.toEqual(['127.0.0.1']);
      await expect(checkHostAddresses('proxied', '127.0.0.2', parseAddressRanges('127.0.0.1/32'), never)).rejects.toThrow(/proxied host 127\.0\.0\.2 leads to 127\.0\.0\.2 is a loopback address/);
    });
  });
});
