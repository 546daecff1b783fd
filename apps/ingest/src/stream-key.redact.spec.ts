import { redactKey, redactNmsMessage, redactPinned, redactUrl } from './stream-key.redact.js';

describe('redactKey', () => {
  it('keeps the first 4 characters of a normal key', () => {
    expect(redactKey('abcdefghijklmnop')).toBe('abcd…');
  });
  it('shows less than half of a short key', () => {
    expect(redactKey('abcdef')).toBe('abc…');
    expect(redactKey('ab')).toBe('a…');
    expect(redactKey('a')).toBe('…');
    expect(redactKey('')).toBe('…');
  });
});

describe('redactNmsMessage', () => {
  it('redacts the key in a stream path', () => {
    const line = 'RTMP session x1 127.0.0.1:5555 start push /live/secretkey123456';
    expect(redactNmsMessage(line)).toBe('RTMP session x1 127.0.0.1:5555 start push /live/secr…');
  });
  it('redacts name= in invalid-path errors', () => {
    expect(redactNmsMessage('invalid stream path characters: app=live, name=topsecret!')).toBe(
      'invalid stream path characters: app=live, name=tops…',
    );
  });
  it('redacts streamPath= and leaves file paths and URLs alone', () => {
    expect(redactNmsMessage('streamPath=/live/secretkey123456 already has a publisher')).toBe('streamPath=/live/secr… already has a publisher');
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
