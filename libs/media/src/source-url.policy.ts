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

/** A push-out target that passed the policy (the `outputs.rtmp` of a start request). */
export interface CheckedPushUrl {
  url: string;
  scheme: 'rtmp' | 'rtmps';
  protocols: string[];
}

/** ffmpeg writes whatever output it is given, local files included: only RTMP(S) targets. */
const PUSH_PROTOCOLS: Record<CheckedPushUrl['scheme'], string[]> = {
  rtmp: ['rtmp', 'tcp'],
  rtmps: ['rtmps', 'tcp', 'tls'],
};

const MAX_LENGTH = 2048;

/**
 * Decides whether a stream's `request.source.url` may be pulled. Throws SourceUrlError with the
 * reason; ffmpeg reads whatever it is given (`file:`, `concat:`, `subfile:`, `data:`, `pipe:` or a
 * bare path), so anything but a network URL of the listed schemes is refused.
 */
export function checkSourceUrl(url: string): CheckedSourceUrl {
  const scheme = checkNetworkUrl('source URL', url, PROTOCOLS);
  return { url, scheme, protocols: [...PROTOCOLS[scheme]] };
}

/**
 * Decides whether the target stream may be pushed to `url` (RTMP push-out). Same rules as a
 * source, with only rtmp:// and rtmps://: an ffmpeg output named `file:` or a bare path would
 * write on the delivery host.
 */
export function checkPushUrl(url: string): CheckedPushUrl {
  const scheme = checkNetworkUrl('RTMP output URL', url, PUSH_PROTOCOLS);
  return { url, scheme, protocols: [...PUSH_PROTOCOLS[scheme]] };
}

function checkNetworkUrl<S extends string>(what: string, url: string, allowed: Record<S, string[]>): S {
  if (typeof url !== 'string' || url.length === 0) throw new SourceUrlError(`${what} is empty`);
  if (url.length > MAX_LENGTH) throw new SourceUrlError(`${what} is longer than ${MAX_LENGTH} characters`);
  // Whitespace and control characters would let one URL smuggle another option or header.
  if (/[\s\u0000-\u001f\u007f]/.test(url)) throw new SourceUrlError(`${what} contains whitespace or control characters`);
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url);
  if (!schemeMatch) throw new SourceUrlError(`${what} has no scheme: a local path is not allowed`);
  const scheme = (schemeMatch[1] as string).toLowerCase();
  if (!Object.hasOwn(allowed, scheme)) {
    throw new SourceUrlError(`${what} scheme "${scheme}:" is not allowed (use ${Object.keys(allowed).join(', ')})`);
  }
  // ffmpeg matches protocols case-sensitively on the lowercase name.
  if (schemeMatch[1] !== scheme) throw new SourceUrlError(`${what} scheme must be lowercase ("${scheme}:")`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    throw new SourceUrlError(`${what} cannot be parsed`, { cause });
  }
  // Checked on the raw text too: WHATWG parsing turns `http:///x` into host "x", ffmpeg would not.
  if (!/^[a-z]+:\/\/[^/?#@]/.test(url) || parsed.hostname === '') {
    throw new SourceUrlError(`${what} must be ${scheme}://host[:port]/...`);
  }
  return scheme as S;
}
