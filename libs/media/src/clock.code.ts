/**
 * A wall clock carried in the picture, for measuring encoder-to-player latency (bench
 * `encoder-to-player`): the publisher paints the milliseconds since the epoch at the moment it
 * hands a frame to the encoder as a row of large black and white blocks in the top-left corner
 * (the watermark sits bottom-right), and a player reads them back from each frame it presents.
 * Blocks survive scaling and lossy coding because each is read by the mean of its inner half and
 * a threshold, and a checksum throws away a frame whose code was damaged.
 *
 * Layout on the reference picture (CLOCK_CODE.width x CLOCK_CODE.height; a player scales what it
 * decodes back to that size): blocks of `block` px from x = 0, y = 0: white, black (a marker that
 * fixes the threshold), then `bits` bits of the milliseconds, most significant first, then
 * `checkBits` bits of (ms mod 61). White is luma 235, black 16.
 */
export const CLOCK_CODE = { width: 640, height: 360, block: 12, bits: 42, checkBits: 6 } as const;

const WHITE = 235;
const BLACK = 16;
const CHECK_MOD = 61;

function bitsOf(ms: number): number[] {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms >= 2 ** CLOCK_CODE.bits) throw new RangeError(`clock code: ${ms} is not an integer from 0 to 2^${CLOCK_CODE.bits}`);
  const out: number[] = [1, 0];
  for (let i = CLOCK_CODE.bits - 1; i >= 0; i--) out.push(Math.floor(ms / 2 ** i) % 2);
  const check = ms % CHECK_MOD;
  for (let i = CLOCK_CODE.checkBits - 1; i >= 0; i--) out.push((check >> i) & 1);
  return out;
}

/** How many pixels wide the code is on the reference picture. */
export function clockCodeWidth(): number {
  return (2 + CLOCK_CODE.bits + CLOCK_CODE.checkBits) * CLOCK_CODE.block;
}

/** Paints `ms` into a luma plane (one byte per pixel, `stride` bytes a row) of the reference size. */
export function drawClockCode(luma: Buffer, stride: number, ms: number): void {
  const { block } = CLOCK_CODE;
  bitsOf(ms).forEach((bit, i) => {
    for (let y = 0; y < block; y++) luma.fill(bit ? WHITE : BLACK, y * stride + i * block, y * stride + (i + 1) * block);
  });
}

/**
 * Reads the milliseconds back from a grey picture of the reference width (`stride` bytes a row, at
 * least `block` rows): undefined when the marker or the checksum does not hold.
 */
export function readClockCode(gray: Buffer, stride: number): number | undefined {
  const { block, bits, checkBits } = CLOCK_CODE;
  const q = Math.floor(block / 4);
  const level = (i: number): number => {
    let sum = 0;
    let n = 0;
    for (let y = q; y < block - q; y++) {
      for (let x = i * block + q; x < (i + 1) * block - q; x++) {
        sum += gray[y * stride + x]!;
        n++;
      }
    }
    return sum / n;
  };
  const white = level(0);
  const black = level(1);
  // A picture without the code (or not yet showing it) has no clear marker.
  if (white - black < 64) return undefined;
  const threshold = (white + black) / 2;
  let ms = 0;
  for (let i = 0; i < bits; i++) ms = ms * 2 + (level(2 + i) > threshold ? 1 : 0);
  let check = 0;
  for (let i = 0; i < checkBits; i++) check = check * 2 + (level(2 + bits + i) > threshold ? 1 : 0);
  return check === ms % CHECK_MOD ? ms : undefined;
}
