import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { PrivateAddressError, SourceUrlError } from '@livemesh/contracts';

/** A pull source that passed the policy: what ffmpeg may open, and nothing else. */
export interface CheckedSourceUrl {
  url: string;
  scheme: 'rtmp' | 'rtmps' | 'srt' | 'http' | 'https';
  /** `-protocol_whitelist` for this scheme: the scheme plus what it opens underneath. */
  protocols: string[];
}

/**
 * Protocols each scheme needs. HLS over http(s) also opens `hls` and `crypto` (AES-128 segments),
 * and `httpproxy`, which https and rtmps run over through the egress proxy (CONNECT); without `file` in the
 * list a crafted playlist cannot make ffmpeg read local files.
 */
const PROTOCOLS: Record<CheckedSourceUrl['scheme'], string[]> = {
  rtmp: ['rtmp', 'tcp'],
  rtmps: ['rtmps', 'tcp', 'tls', 'httpproxy'],
  srt: ['srt', 'udp'],
  http: ['http', 'https', 'tcp', 'tls', 'crypto', 'hls', 'httpproxy'],
  https: ['https', 'http', 'tcp', 'tls', 'crypto', 'hls', 'httpproxy'],
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
  rtmps: ['rtmps', 'tcp', 'tls', 'httpproxy'],
};

const MAX_LENGTH = 2048;

/**
 * Decides whether a stream's `request.source.url` may be pulled. Throws SourceUrlError with the
 * reason; ffmpeg reads whatever it is given (`file:`, `concat:`, `subfile:`, `data:`, `pipe:` or a
 * bare path), so anything but a network URL of the listed schemes is refused.
 */
export function checkSourceUrl(url: string): CheckedSourceUrl {
  const scheme = checkNetworkUrl('source URL', url, PROTOCOLS);
  if (scheme === 'srt') checkSrtOptions(url);
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

/**
 * SRT URL options ffmpeg's libsrt protocol may take from a pull URL. The rest are refused:
 * `mode=listener` or `rendezvous` would make ingest bind a port of its choosing, `localip` and
 * `localport` pick the local side, and buffer or bandwidth options size memory.
 */
const SRT_OPTIONS: Record<string, RegExp> = {
  streamid: /^[\x21-\x7e]{0,512}$/,
  passphrase: /^[\x21-\x7e]{10,79}$/,
  pbkeylen: /^(0|16|24|32)$/,
  latency: /^\d{1,8}$/,
  rcvlatency: /^\d{1,8}$/,
  peerlatency: /^\d{1,8}$/,
  connect_timeout: /^\d{1,6}$/,
  timeout: /^\d{1,10}$/,
  mode: /^caller$/,
  transtype: /^live$/,
  enforced_encryption: /^(0|1|true|false)$/,
};

function checkSrtOptions(url: string): void {
  const query = new URL(url).searchParams;
  for (const [name, value] of query) {
    const rule = SRT_OPTIONS[name];
    if (!Object.hasOwn(SRT_OPTIONS, name) || !rule) {
      throw new SourceUrlError(`source URL SRT option "${name.slice(0, 64)}" is not allowed (use ${Object.keys(SRT_OPTIONS).join(', ')})`);
    }
    if (!rule.test(value)) throw new SourceUrlError(`source URL SRT option ${name} has a value that is not allowed`);
  }
}

// --- outbound addresses

/** A CIDR range of LIVEMESH_ALLOW_PRIVATE_SOURCES, as bytes (4 for IPv4, 16 for IPv6). */
export interface AddressRange {
  bytes: Uint8Array;
  prefix: number;
}

/** Parses `127.0.0.0/8,::1/128`; throws SourceUrlError naming a bad entry. */
export function parseAddressRanges(text: string): AddressRange[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const [addr = '', bits = ''] = entry.split('/');
      const bytes = parseIp(addr, false);
      const prefix = Number(bits);
      if (!bytes || !/^\d{1,3}$/.test(bits) || prefix > bytes.length * 8) throw new SourceUrlError(`address range "${entry}" is not a CIDR like 127.0.0.0/8 or ::1/128`);
      return { bytes, prefix };
    });
}

/**
 * The bytes of an IP address, or undefined for a name. With `loose`, IPv4 is read as inet_aton
 * does (what getaddrinfo and so ffmpeg accept): `2130706433`, `0x7f.1`, `0177.0.0.1` are all
 * 127.0.0.1, so such a spelling cannot pass for a host name.
 */
export function parseIp(text: string, loose = true): Uint8Array | undefined {
  const host = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  if (isIP(host) === 6) return parseIpv6(host);
  if (isIP(host) === 4) return Uint8Array.from(host.split('.').map(Number));
  return loose ? parseLooseIpv4(host) : undefined;
}

function parseLooseIpv4(host: string): Uint8Array | undefined {
  const parts = host.replace(/\.$/, '').split('.');
  if (parts.length === 0 || parts.length > 4) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/i.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) n = parseInt(p, 8);
    else if (/^[1-9]\d*$/.test(p)) n = Number(p);
    else return undefined;
    nums.push(n);
  }
  const last = nums.pop()!;
  if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return undefined;
  const value = nums.reduce((acc, n, i) => acc + n * 256 ** (3 - i), 0) + last;
  return Uint8Array.from([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]);
}

/** Bytes of an address net.isIP accepted as IPv6 (a dotted IPv4 tail becomes its two groups first). */
function parseIpv6(host: string): Uint8Array {
  const text = host.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const [head = '', tail] = text.split('::');
  const words = (part: string) => (part === '' ? [] : part.split(':').map((x) => parseInt(x, 16)));
  const a = words(head);
  const b = tail === undefined ? [] : words(tail);
  const all = [...a, ...Array<number>(8 - a.length - b.length).fill(0), ...b];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[2 * i] = (w >> 8) & 255;
    bytes[2 * i + 1] = w & 255;
  });
  return bytes;
}

function inRange(bytes: Uint8Array, range: AddressRange): boolean {
  if (bytes.length !== range.bytes.length) return false;
  let bits = range.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 255 : (255 << (8 - bits)) & 255;
    if ((bytes[i]! & mask) !== (range.bytes[i]! & mask)) return false;
  }
  return true;
}

const range = (cidr: string): AddressRange => parseAddressRanges(cidr)[0]!;

/** Addresses that are not the public internet, with the name an operator reads in the refusal. */
const NOT_PUBLIC: [AddressRange, string][] = [
  [range('0.0.0.0/8'), 'unspecified ("this network")'],
  [range('10.0.0.0/8'), 'private (RFC 1918)'],
  [range('100.64.0.0/10'), 'carrier-grade NAT (RFC 6598)'],
  [range('127.0.0.0/8'), 'loopback'],
  [range('169.254.169.254/32'), 'cloud metadata'],
  [range('169.254.0.0/16'), 'link-local'],
  [range('172.16.0.0/12'), 'private (RFC 1918)'],
  [range('192.0.0.0/24'), 'IETF protocol assignments'],
  [range('192.0.2.0/24'), 'documentation'],
  [range('192.168.0.0/16'), 'private (RFC 1918)'],
  [range('198.18.0.0/15'), 'benchmarking'],
  [range('198.51.100.0/24'), 'documentation'],
  [range('203.0.113.0/24'), 'documentation'],
  [range('224.0.0.0/4'), 'multicast'],
  [range('240.0.0.0/4'), 'reserved or broadcast'],
  [range('::/128'), 'unspecified'],
  [range('::1/128'), 'loopback'],
  [range('fd00:ec2::254/128'), 'cloud metadata'],
  [range('fc00::/7'), 'unique local (ULA)'],
  [range('fe80::/10'), 'link-local'],
  [range('fec0::/10'), 'site-local'],
  [range('ff00::/8'), 'multicast'],
  [range('100::/64'), 'discard-only'],
  [range('2001:db8::/32'), 'documentation'],
];

/**
 * An IPv4 address carried inside an IPv6 one, which the network stack reaches as that IPv4
 * address: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
 */
function embeddedIpv4(b: Uint8Array): Uint8Array | undefined {
  if (b.length !== 16) return undefined;
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return b.slice(12);
  if (zero(0, 12) && !zero(12, 16) && !(zero(12, 15) && b[15] === 1)) return b.slice(12);
  if (b[0] === 0 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(4, 12)) return b.slice(12);
  if (b[0] === 0x20 && b[1] === 0x02) return b.slice(2, 6);
  return undefined;
}

function formatIp(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const words = Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16));
  return words.join(':');
}

/**
 * Why outbound traffic may not go to `address`, or undefined when it may: it is public, or it
 * lies in a range the operator allowed. A pure function over a resolved address.
 */
export function refusedAddress(address: string, allow: readonly AddressRange[]): string | undefined {
  const bytes = parseIp(address);
  if (!bytes) return `"${address.slice(0, 64)}" is not an IP address`;
  const inner = embeddedIpv4(bytes);
  const candidates = inner ? [bytes, inner] : [bytes];
  if (candidates.some((c) => allow.some((r) => inRange(c, r)))) return undefined;
  for (const c of candidates) {
    const hit = NOT_PUBLIC.find(([r]) => inRange(c, r));
    if (hit) return `${formatIp(c)} is ${/^[aeiou]/.test(hit[1]) ? 'an' : 'a'} ${hit[1]} address`;
  }
  return undefined;
}

/** The host a URL names as its connection target: `[::1]` unbracketed, without a trailing dot, lowercase. */
export function urlHost(url: string): string {
  // A trailing dot is the same name to the resolver (`localhost.`).
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  return host.toLowerCase();
}

export type AddressLookup = (host: string) => Promise<string[]>;

const systemLookup: AddressLookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Checks where a pull source or push target leads, after DNS resolution: every address the host
 * resolves to must be public or in an allowed range (a name with one private address among
 * public ones is refused, as ffmpeg may try any of them). Throws PrivateAddressError, or
 * SourceUrlError when the name does not resolve. The answer is what the connection must use:
 * ingest hands it to ffmpeg (pinnedUrl) or connects to it itself (the egress proxy), so a name
 * that resolves differently a moment later (DNS rebinding) leads nowhere else.
 */
export async function checkOutboundAddresses(what: string, url: string, allow: readonly AddressRange[], lookup: AddressLookup = systemLookup): Promise<string[]> {
  return checkHostAddresses(what, urlHost(url), allow, lookup);
}

/** checkOutboundAddresses for a bare host name or IP literal (what an HTTP request or CONNECT names). */
export async function checkHostAddresses(what: string, host: string, allow: readonly AddressRange[], lookup: AddressLookup = systemLookup): Promise<string[]> {
  const literal = host === 'localhost' || host.endsWith('.localhost') ? '127.0.0.1' : parseIp(host) ? formatIp(parseIp(host)!) : undefined;
  let addresses: string[];
  if (literal) addresses = [literal];
  else {
    try {
      addresses = await lookup(host);
    } catch (cause) {
      throw new SourceUrlError(`${what} host ${host} cannot be resolved`, { cause });
    }
    if (addresses.length === 0) throw new SourceUrlError(`${what} host ${host} has no address`);
  }
  for (const a of addresses) {
    const why = refusedAddress(a, allow);
    if (why) throw new PrivateAddressError(`${what} host ${host} leads to ${why}; LIVEMESH_ALLOW_PRIVATE_SOURCES can allow its range`);
  }
  return addresses;
}

/**
 * The URL with its host replaced by `address` (one checkOutboundAddresses returned), so ffmpeg
 * connects to the address that was checked instead of resolving the name again. Userinfo, port,
 * path and query stay as they are.
 */
export function pinnedUrl(url: string, address: string): string {
  const bytes = parseIp(address);
  if (!bytes) throw new SourceUrlError(`"${address.slice(0, 64)}" is not an IP address`);
  const host = bytes.length === 16 ? `[${formatIp(bytes)}]` : formatIp(bytes);
  const m = /^([a-z]+:\/\/)(?:([^/?#@]*)@)?(\[[^\]]*\]|[^/?#:]*)(.*)$/s.exec(url);
  if (!m) throw new SourceUrlError('URL cannot be pinned to an address');
  return `${m[1]}${m[2] !== undefined ? `${m[2]}@` : ''}${host}${m[4]}`;
}

/**
 * The RTMP application ffmpeg reads from a URL path (rtmpproto.c, without its `slist=` and
 * `-rtmp_app` cases): `/live/key` is `live`, `/app/inst/key` is `app/inst`, `/app/inst:key` is `app`.
 */
export function rtmpApp(path: string): string {
  if (path.startsWith('/ondemand/')) return 'ondemand';
  const next = path.slice(1);
  const slash = next.indexOf('/');
  if (slash < 0) return next;
  const after = next.slice(slash + 1);
  const colon = after.indexOf(':');
  const second = after.indexOf('/');
  if (second < 0 || (colon >= 0 && colon < second)) return next.slice(0, slash);
  return next.slice(0, slash + 1 + second);
}

/**
 * Where ffmpeg connects to for an RTMP or SRT URL whose host was checked: the URL with the checked
 * address in place of the name (no second lookup, so no rebinding), and for RTMP the tcUrl with the
 * name as the server expects it (virtual hosts, `app` checks). rtmps keeps its name: TLS sends it
 * (SNI) and a certificate names it; it goes through the egress proxy instead, as https does.
 */
export function pinnedTarget(url: string, address: string): { url: string; rtmpTcUrl?: string } {
  const m = /^([a-z]+):\/\/(?:[^/?#@]*@)?(\[[^\]]*\](?::\d*)?|[^/?#]*)([^#]*)/.exec(url);
  const scheme = m?.[1];
  if (!m || (scheme !== 'rtmp' && scheme !== 'srt')) return { url };
  const pinned = pinnedUrl(url, address);
  if (scheme === 'srt') return { url: pinned };
  const path = m[3]!;
  return { url: pinned, rtmpTcUrl: `rtmp://${m[2]}/${rtmpApp(path.startsWith('/') ? path : `/${path}`)}` };
}
