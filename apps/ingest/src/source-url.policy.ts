import { SourceUrlError } from '@livemesh/contracts';

/** A pull source that passed the policy: what ffmpeg may open, and nothing else. */
export interface CheckedSourceUrl {
  url: string;
  scheme: 'rtmp' | 'rtmps' | 'srt' | 'http' | 'https';
  /** `-protocol_whitelist` for this scheme: the scheme plus what it opens underneath. */
  protocols: string[];
}

/**
 * Protocols each scheme needs. HLS over http(s) also opens `hls` and `crypto` (AES-128 segments);
 * without `file` in the list a crafted playlist cannot make ffmpeg read local files.
 */
const PROTOCOLS: Record<CheckedSourceUrl['scheme'], string[]> = {
  rtmp: ['rtmp', 'tcp'],
  rtmps: ['rtmps', 'tcp', 'tls'],
  srt: ['srt', 'udp'],
  http: ['http', 'https', 'tcp', 'tls', 'crypto', 'hls'],
  https: ['https', 'http', 'tcp', 'tls', 'crypto', 'hls'],
};

const MAX_LENGTH = 2048;

/**
 * Decides whether a stream's `request.source.url` may be pulled. Throws SourceUrlError with the
 * reason; ffmpeg reads whatever it is given (`file:`, `concat:`, `subfile:`, `data:`, `pipe:` or a
 * bare path), so anything but a network URL of the listed schemes is refused.
 */
export function checkSourceUrl(url: string): CheckedSourceUrl {
  if (typeof url !== 'string' || url.length === 0) throw new SourceUrlError('source URL is empty');
  if (url.length > MAX_LENGTH) throw new SourceUrlError(`source URL is longer than ${MAX_LENGTH} characters`);
  // Whitespace and control characters would let one URL smuggle another option or header.
  if (/[\s\u0000-\u001f\u007f]/.test(url)) throw new SourceUrlError('source URL contains whitespace or control characters');
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url);
  if (!schemeMatch) throw new SourceUrlError('source URL has no scheme: a local path is not allowed');
  const scheme = (schemeMatch[1] as string).toLowerCase();
  if (!(scheme in PROTOCOLS)) {
    throw new SourceUrlError(`source URL scheme "${scheme}:" is not allowed (use ${Object.keys(PROTOCOLS).join(', ')})`);
  }
  // ffmpeg matches protocols case-sensitively on the lowercase name.
  if (schemeMatch[1] !== scheme) throw new SourceUrlError(`source URL scheme must be lowercase ("${scheme}:")`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new SourceUrlError('source URL cannot be parsed', { cause });
  }
  // Checked on the raw text too: WHATWG parsing turns `http:///x` into host "x", ffmpeg would not.
  if (!/^[a-z]+:\/\/[^/?#@]/.test(url) || parsed.hostname === '') {
    throw new SourceUrlError(`source URL must be ${scheme}://host[:port]/...`);
  }
  return { url, scheme: scheme as CheckedSourceUrl['scheme'], protocols: [...PROTOCOLS[scheme as CheckedSourceUrl['scheme']]] };
}
