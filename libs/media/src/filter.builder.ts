import { ValidationFailedError } from '@livemesh/contracts';

/**
 * Escapes a value for a filter option inside a filter graph (`-vf`, `-filter_complex`).
 * ffmpeg unescapes twice: the graph parser splits on `[ ] , ;` and the option parser on `: =`,
 * each honouring `\` and `'`. Backslash-escaping every special character (and whitespace, which
 * both levels would trim) at both levels makes any string one literal value, whatever it holds.
 */
export function escapeFilterValue(value: string): string {
  if (value.includes('\0')) throw new ValidationFailedError('invalid filter value', ['contains a NUL byte']);
  return escapeOnce(escapeOnce(value));
}

function escapeOnce(s: string): string {
  return s.replace(/[\\':=,;[\]\s]/g, (c) => `\\${c}`);
}

export type TextPosition = 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right' | 'center';

export interface DrawtextOptions {
  /** A file the caller wrote the user's text to: user text never enters the graph. */
  textFile: string;
  fontSize: number;
  /** A named colour (`white`) or `#RRGGBB`. */
  color: string;
  /** 0..1 */
  opacity: number;
  position: TextPosition;
  boxed?: boolean;
  /** Margin from the frame edge in pixels. */
  margin?: number;
  fontFile?: string;
}

const NAMED_COLOR = /^[a-z]{3,20}$/i;
const HEX_COLOR = /^#[0-9a-f]{6}$/i;

const POSITIONS: Record<TextPosition, [string, string]> = {
  'top-left': ['M', 'M'],
  'top-right': ['w-text_w-M', 'M'],
  'bottom-left': ['M', 'h-text_h-M'],
  'bottom-right': ['w-text_w-M', 'h-text_h-M'],
  center: ['(w-text_w)/2', '(h-text_h)/2'],
};

/**
 * A drawtext filter that prints the contents of `textFile` verbatim. `expansion=none` because
 * drawtext otherwise evaluates `%{...}` (expressions, metadata, even `%{eif:...}`) found in the text.
 */
export function drawtextFilter(o: DrawtextOptions): string {
  const problems: string[] = [];
  if (!Number.isInteger(o.fontSize) || o.fontSize < 4 || o.fontSize > 512) problems.push('fontSize must be an integer 4..512');
  if (!(NAMED_COLOR.test(o.color) || HEX_COLOR.test(o.color))) problems.push('color must be a colour name or #RRGGBB');
  if (!Number.isFinite(o.opacity) || o.opacity < 0 || o.opacity > 1) problems.push('opacity must be 0..1');
  const margin = o.margin ?? 10;
  if (!Number.isInteger(margin) || margin < 0 || margin > 4096) problems.push('margin must be an integer 0..4096');
  if (!(o.position in POSITIONS)) problems.push('position is unknown');
  if (o.textFile === '') problems.push('textFile is empty');
  if (problems.length > 0) throw new ValidationFailedError('invalid drawtext options', problems);

  const alpha = Number(o.opacity.toFixed(3));
  const [x, y] = POSITIONS[o.position].map((e) => e.replaceAll('M', String(margin)));
  const opts = [
    `textfile=${escapeFilterValue(o.textFile)}`,
    'expansion=none',
    ...(o.fontFile ? [`fontfile=${escapeFilterValue(o.fontFile)}`] : []),
    `fontsize=${o.fontSize}`,
    // `@alpha` is part of ffmpeg's colour syntax; both parts were validated above.
    `fontcolor=${o.color}@${alpha}`,
    `x=${escapeFilterValue(x)}`,
    `y=${escapeFilterValue(y)}`,
    ...(o.boxed ? ['box=1', `boxcolor=black@${Number((alpha * 0.5).toFixed(3))}`, 'boxborderw=8'] : []),
  ];
  return `drawtext=${opts.join(':')}`;
}

export interface ScaleOptions {
  width: number;
  height: number;
  /** Fit inside width x height keeping the aspect ratio (each side rounded to even for yuv420p). */
  keepAspect: boolean;
}

export function scaleFilter(o: ScaleOptions): string {
  const problems: string[] = [];
  for (const [k, v] of [['width', o.width], ['height', o.height]] as const) {
    if (!Number.isInteger(v) || v < 16 || v > 7680) problems.push(`${k} must be an integer 16..7680`);
  }
  if (problems.length > 0) throw new ValidationFailedError('invalid scale options', problems);
  if (!o.keepAspect) return `scale=${o.width}:${o.height},setsar=1`;
  // force_divisible_by=2: x264 refuses odd sizes in 4:2:0.
  return `scale=${o.width}:${o.height}:force_original_aspect_ratio=decrease:force_divisible_by=2,setsar=1`;
}

export function fpsFilter(fps: number): string {
  if (!Number.isFinite(fps) || fps <= 0 || fps > 240) throw new ValidationFailedError('invalid fps', ['fps must be a number in (0, 240]']);
  return `fps=${Number(fps.toFixed(3))}`;
}
