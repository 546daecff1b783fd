export interface PixelateParams {
  x: number;
  y: number;
  w: number;
  h: number;
  blockSize: number;
}

/**
 * crop the rectangle, shrink it by blockSize (area averaging), blow it back up with
 * nearest-neighbour and lay it over the original. Every number is an integer checked by the
 * schema, so nothing user-written reaches the graph as text. The rectangle is clamped inside the
 * frame in the graph itself, because the frame size is not known when the parameters are checked.
 */
export function pixelateFilter(p: PixelateParams): string {
  const { x, y, w, h, blockSize: b } = p;
  for (const v of [x, y, w, h, b]) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError('pixelate parameters must be non-negative integers');
  }
  return [
    'split[lm_base][lm_roi]',
    `[lm_roi]crop=w=min(${w}\\,iw):h=min(${h}\\,ih):x=min(${x}\\,iw-ow):y=min(${y}\\,ih-oh),` +
      `scale=w=max(1\\,trunc(iw/${b})):h=max(1\\,trunc(ih/${b})):flags=area,` +
      `scale=w=iw*${b}:h=ih*${b}:flags=neighbor[lm_px]`,
    `[lm_base][lm_px]overlay=x=min(${x}\\,W-w):y=min(${y}\\,H-h)`,
  ].join(';');
}
