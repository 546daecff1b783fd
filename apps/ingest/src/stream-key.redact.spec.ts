import { createHash } from 'node:crypto';
import { redactKey, redactNmsMessage, redactPinned, redactUrl } from './stream-key.redact.js';

const label = (key: string) => `#${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;

describe('redactKey', () => {
  it('shows no character of the key, only a prefix of its SHA-256 (its lm_keys name)', () => {
    expect(redactKey('abcdefghijklmnop')).toBe(label('abcdefghijklmnop'));
    expect(redactKey('abcdefghijklmnop')).toMatch(/^#[0-9a-f]{8}$/);
    expect(redactKey('abcdefghijklmnop')).not.toContain('abcd');
    expect(redactKey('')).toBe(label(''));
  });
});

describe('redactNmsMessage', () => {
  it('redacts the key in a stream path', () => {
    const line = 'RTMP session x1 127.0.0.1:5555 start push /live/secretkey123456';
    expect(redactNmsMessage(line)).toBe(`RTMP session x1 127.0.0.1:5555 start push /live/${label('secretkey123456')}`);
  });
  it('redacts name= in invalid-path errors', () => {
    expect(redactNmsMessage('invalid stream path characters: app=live, name=topsecret!')).toBe(
      `invalid stream path characters: app=live, name=${label('topsecret!')}`,
    );
  });
  it('redacts streamPath= and leaves file paths and URLs alone', () => {
    expect(redactNmsMessage('streamPath=/live/secretkey123456 already has a publisher')).toBe(`streamPath=/live/${label('secretkey123456')} already has a publisher`);
    expect(redactNmsMessage('Store ready at /tmp/livemesh-x/data/ingest-store')).toBe('Store ready at /tmp/livemesh-x/data/ingest-store');
    expect(redactNmsMessage('Homepage: https://github.com/illuspas/Node-Media-Server')).toBe('Homepage: https://github.com/illuspas/Node-Media-Server');
  });
  it('leaves lines without a path alone', () => {
    expect(redactNmsMessage('Rtmp Server listening on port 127.0.0.1:1935')).toBe('Rtmp Server listening on port 127.0.0.1:1935');
  });
});

describe('redactUrl', () => {
  it('drops user info and the query', () => {
    expect(redactUrl('rtmp://user:pw@cdn.example.com:1935/live/abc?token=xyz')).toBe('rtmp://cdn.example.com:1935/live/abc?…');
    expect(redactUrl('https://example.com/a.m3u8')).toBe('https://example.com/a.m3u8');
  });
});

describe('redactPinned', () => {
  it('hides user info and query in ffmpeg output, whether it names the URL or its pinned form', () => {
    const url = 'srt://user:pw@src.example.com:9000?streamid=s&passphrase=0123456789';
    expect(redactPinned(`Opening ${url}`, url)).toBe('Opening srt://src.example.com:9000?…');
    expect(redactPinned('Opening srt://user:pw@93.184.216.34:9000?streamid=s&passphrase=0123456789 failed', url)).toBe('Opening srt://93.184.216.34:9000?… failed');
    expect(redactPinned('rtmp://93.184.216.34/live/k: I/O error', 'rtmp://cdn.example.com/live/k')).toBe('rtmp://93.184.216.34/live/k: I/O error');
  });
});
