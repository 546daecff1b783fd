import { ValidationFailedError } from '@livemesh/contracts';
import { drawtextFilter, escapeFilterValue, fpsFilter, scaleFilter } from './filter.builder.js';

/**
 * Undoes one level of ffmpeg's av_get_token(): `\x` -> x, '...' literal, stops at an unescaped
 * terminator. Returns the token and the rest, as the graph and option parsers see it.
 */
function getToken(s: string, terms: string): [string, string] {
  let out = '';
  let i = 0;
  while (i < s.length && !terms.includes(s[i] as string)) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      out += s[i + 1];
      i += 2;
    } else if (c === "'") {
      i++;
      while (i < s.length && s[i] !== "'") out += s[i++];
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return [out, s.slice(i)];
}

/** Parses `name=k=v:k=v` as libavfilter would for a one-filter graph. */
function parseFilter(graph: string): { name: string; opts: Record<string, string>; rest: string } {
  const name = /^[a-z0-9_]+/.exec(graph)?.[0] ?? '';
  const [args, rest] = getToken(graph.slice(name.length + 1), '[],;');
  const opts: Record<string, string> = {};
  let r = args;
  while (r.length > 0) {
    const key = /^[a-z_0-9]+/.exec(r)?.[0] ?? '';
    const [value, after] = getToken(r.slice(key.length + 1), ':');
    opts[key] = value;
    r = after.slice(1);
  }
  return { name, opts, rest };
}

const HOSTILE = [
  "it's",
  'a:b=c',
  'x,drawbox=c=red',
  "'[out]; movie=/etc/passwd [x]",
  '%{pts} %{eif:1/0:d} %{metadata:foo}',
  'back\\slash\\',
  '\\\'\\:\\,',
  ' leading and trailing ',
  'line\nbreak',
  ';[in]split[a][b]',
];

describe('escapeFilterValue', () => {
  it.each(HOSTILE)('keeps %j one literal option value through both parsing levels', (v) => {
    const f = parseFilter(`drawtext=textfile=${escapeFilterValue(v)}:expansion=none`);
    expect(f.name).toBe('drawtext');
    expect(f.rest).toBe('');
    expect(f.opts).toEqual({ textfile: v, expansion: 'none' });
  });

  it('refuses a NUL byte (it would cut the argument)', () => {
    expect(() => escapeFilterValue('a\0b')).toThrow(ValidationFailedError);
  });
});

describe('drawtextFilter', () => {
  const base = { textFile: '/tmp/lm/text.txt', fontSize: 24, color: 'white', opacity: 0.8, position: 'bottom-right' as const };

  it('reads the text from a file, never expanding it', () => {
    const f = parseFilter(drawtextFilter(base));
    expect(f.opts).toMatchObject({ textfile: '/tmp/lm/text.txt', expansion: 'none', fontsize: '24', fontcolor: 'white@0.8', x: 'w-text_w-10', y: 'h-text_h-10' });
    expect(f.rest).toBe('');
  });

  it.each(HOSTILE)('keeps a hostile path %j as the textfile value only', (p) => {
    const f = parseFilter(drawtextFilter({ ...base, textFile: p, boxed: true }));
    expect(f.opts.textfile).toBe(p);
    expect(f.opts.expansion).toBe('none');
    expect(f.opts.box).toBe('1');
    expect(f.rest).toBe('');
  });

  it('accepts #RRGGBB and places text by name', () => {
    const f = parseFilter(drawtextFilter({ ...base, color: '#FF00aa', position: 'center', margin: 0 }));
    expect(f.opts.fontcolor).toBe('#FF00aa@0.8');
    expect(f.opts.x).toBe('(w-text_w)/2');
  });

  it.each([
    { color: 'red:x=0' },
    { color: "white'" },
    { color: '#fff' },
    { color: 'red@0.5' },
    { fontSize: 0 },
    { fontSize: 12.5 },
    { opacity: 2 },
    { opacity: NaN },
    { position: 'middle' },
    { textFile: '' },
    { margin: -1 },
  ])('refuses %j', (bad) => {
    expect(() => drawtextFilter({ ...base, ...(bad as object) })).toThrow(ValidationFailedError);
  });
});

describe('scaleFilter and fpsFilter', () => {
  it('scales to a box keeping the aspect ratio with even sides', () => {
    expect(scaleFilter({ width: 640, height: 360, keepAspect: true })).toBe('scale=640:360:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1');
    expect(scaleFilter({ width: 640, height: 360, keepAspect: false })).toBe('scale=640:360,setsar=1');
  });

  it.each([{ width: 0, height: 360 }, { width: 640.5, height: 360 }, { width: 10000, height: 360 }])('refuses %j', (s) => {
    expect(() => scaleFilter({ ...s, keepAspect: true })).toThrow(ValidationFailedError);
  });

  it('sets a frame rate', () => {
    expect(fpsFilter(30)).toBe('fps=30');
    expect(fpsFilter(29.97)).toBe('fps=29.97');
    expect(() => fpsFilter(0)).toThrow(ValidationFailedError);
    expect(() => fpsFilter(Infinity)).toThrow(ValidationFailedError);
  });
});
