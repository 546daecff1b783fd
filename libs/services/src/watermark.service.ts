import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { MediaInputError, ValidationFailedError } from '@livemesh/contracts';
import { assertSaneDimensions, drawtextFilter, escapeFilterValue, inputArgs, mpegtsOnSourceTimeline, probe, x264OnSourceTimeline, type TextPosition } from '@livemesh/media';
import { defineStage, encodeFor, serviceSpecOf, type StageContext } from '@livemesh/stage-sdk';

export interface WatermarkParams {
  text: string;
  fontSize: number;
  color: string;
  opacity: number;
  position: TextPosition;
  /**
   * A logo instead of the text: the name of an image the operator provided, looked up in the
   * service configuration (`config.images.<name>`: a path inside the container) and else in the
   * object store (`lm_blobs`, `watermark/<name>`). Never a path: a stream's parameters cannot make
   * the worker read a file of their choosing.
   */
  image?: string;
  /** Width of the logo on the picture, pixels (height follows its aspect ratio). */
  imageWidth: number;
}

const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    text: { type: 'string', minLength: 1, maxLength: 200, default: 'livemesh' },
    fontSize: { type: 'integer', minimum: 8, maximum: 200, default: 24 },
    color: { type: 'string', pattern: '^([A-Za-z]{3,20}|#[0-9A-Fa-f]{6})$', default: 'white' },
    opacity: { type: 'number', minimum: 0, maximum: 1, default: 0.8 },
    position: { type: 'string', enum: ['top-left', 'top-right', 'bottom-left', 'bottom-right', 'center'], default: 'bottom-right' },
    image: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    imageWidth: { type: 'integer', minimum: 8, maximum: 1920, multipleOf: 2, default: 120 },
  },
};

/** Largest logo accepted, bytes and pixels: it is decoded for every segment. */
const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
const IMAGE_LIMITS = { maxWidth: 4096, maxHeight: 4096 };
const MARGIN = 10;
/** The encode when the watermark is what the next hop (or delivery) gets as final video. */
const ENCODE = { preset: 'veryfast' } as const;

const OVERLAY_XY: Record<TextPosition, [string, string]> = {
  'top-left': [`${MARGIN}`, `${MARGIN}`],
  'top-right': [`W-w-${MARGIN}`, `${MARGIN}`],
  'bottom-left': [`${MARGIN}`, `H-h-${MARGIN}`],
  'bottom-right': [`W-w-${MARGIN}`, `H-h-${MARGIN}`],
  center: ['(W-w)/2', '(H-h)/2'],
};

/** `[1:v]` logo scaled, made translucent and laid over `[0:v:0]`; everything in it is a checked number or a fixed word. */
export function overlayGraph(p: Pick<WatermarkParams, 'imageWidth' | 'opacity' | 'position'>): string {
  if (!Number.isInteger(p.imageWidth) || p.imageWidth < 8 || p.imageWidth > 1920) throw new ValidationFailedError('invalid overlay', ['imageWidth must be an integer 8..1920']);
  if (!(p.opacity >= 0 && p.opacity <= 1)) throw new ValidationFailedError('invalid overlay', ['opacity must be 0..1']);
  const xy = OVERLAY_XY[p.position];
  if (!xy) throw new ValidationFailedError('invalid overlay', ['position is unknown']);
  const alpha = Number(p.opacity.toFixed(3));
  return [
    `[1:v]scale=${p.imageWidth}:-2,format=rgba,colorchannelmixer=aa=${alpha}[lm_logo]`,
    `[0:v:0][lm_logo]overlay=x=${escapeFilterValue(xy[0])}:y=${escapeFilterValue(xy[1])}:format=auto,format=yuv420p[lm_v]`,
  ].join(';');
}

/**
 * The ffmpeg demuxer of a logo, from its first bytes: a logo is opened with this demuxer forced,
 * never probed, so bytes that are an HLS playlist, an ffconcat list or any other container cannot
 * make ffmpeg read other local files (or anything but one picture). Undefined for anything else.
 */
export function logoDemuxer(bytes: Uint8Array): 'png_pipe' | 'jpeg_pipe' | 'webp_pipe' | 'gif' | 'bmp_pipe' | undefined {
  const starts = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  const ascii = (at: number, text: string) => [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png_pipe';
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg_pipe';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp_pipe';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (ascii(0, 'BM') && bytes.length > 26) return 'bmp_pipe';
  return undefined;
}

/**
 * Writes the logo to `file` and answers the demuxer it must be opened with: from the service configuration's path, else from the object store.
 * Checked like a segment (a forged header must not make the decoder allocate gigabytes) when first
 * loaded, then cached per stream, so later segments neither fetch nor probe it again.
 */
async function writeLogo(ctx: StageContext<WatermarkParams>, name: string, file: string): Promise<string> {
  const key = `watermark.image.${name}`;
  const cached = ctx.state.get(key) as Uint8Array | undefined;
  if (cached) {
    await writeFile(file, cached);
    return logoDemuxer(cached)!;
  }
  const images = (ctx.config.images ?? {}) as Record<string, unknown>;
  const path = images[name];
  let bytes: Uint8Array | undefined;
  if (typeof path === 'string' && isAbsolute(path)) {
    bytes = new Uint8Array(await readFile(path));
  } else {
    bytes = await ctx.blobs.get(`watermark/${name}`);
  }
  if (!bytes) throw new ValidationFailedError(`watermark image "${name}" is not provided`, [`image: set config.images.${name} to a path in the container, or store lm_blobs watermark/${name}`]);
  if (bytes.byteLength > MAX_IMAGE_BYTES) throw new MediaInputError(`watermark image "${name}" is ${bytes.byteLength} bytes, above ${MAX_IMAGE_BYTES}`, '', null);
  const format = logoDemuxer(bytes);
  if (!format) throw new MediaInputError(`watermark image "${name}" is not a PNG, JPEG, WebP, GIF or BMP image`, '', null);
  await writeFile(file, bytes);
  assertSaneDimensions(await probe(file, { timeoutMs: 10_000, format }), IMAGE_LIMITS);
  ctx.state.set(key, bytes);
  return format;
}

export const watermarkStage = defineStage<WatermarkParams>({
  name: 'watermark',
  params: paramSchema,
  // The text is a filter; a logo is a second input, which a fused filter graph does not take.
  exceptWith: ['image'],
  async video(ctx) {
    const { text, fontSize, color, opacity, position, image } = ctx.params;
    if (image !== undefined) return undefined;
    // The text goes to a file and drawtext runs with expansion=none: whatever a platform sends
    // (quotes, colons, %{...}) is printed, never parsed as filter syntax or an expression.
    const textFile = join(await ctx.workDir(), 'watermark.txt');
    await writeFile(textFile, text, 'utf8');
    return { filter: drawtextFilter({ textFile, fontSize, color, opacity, position }), encode: ENCODE };
  },
  async process(ctx) {
    const { opacity, position, image, imageWidth } = ctx.params;
    const file = join(await ctx.workDir(), 'logo.img');
    const format = await writeLogo(ctx, image!, file);
    const args = [
      '-copyts',
      ...inputArgs({ source: 'pipe', format: 'mpegts' }),
      ...inputArgs({ source: { file }, format }),
      '-filter_complex', overlayGraph({ imageWidth, opacity, position }),
      '-map', '[lm_v]',
      '-map', '0:a:0?',
      // A mezzanine when the next hop re-encodes anyway, like a `video` step's encode.
      ...x264OnSourceTimeline(encodeFor(ctx, ENCODE)),
      '-c:a', 'copy',
      ...mpegtsOnSourceTimeline(),
    ];
    return { data: await ctx.ffmpeg(args) };
  },
});

export const watermarkSpec = serviceSpecOf(watermarkStage, {
  version: '1.2.0',
  description: 'Draws a text watermark, or overlays a logo the operator provided, on the video; audio and timeline untouched.',
  builtIn: true,
});
