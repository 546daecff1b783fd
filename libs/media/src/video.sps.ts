/**
 * Picture size from an H.264 or HEVC sequence parameter set, the header a decoder sizes its frame
 * buffers from: what a forged segment lies in to make a decoder allocate gigabytes. Input is one
 * NAL unit (header included, emulation-prevention bytes still in); a malformed or truncated SPS
 * gives undefined, never an exception.
 */

export interface PictureSize {
  width: number;
  height: number;
}

/** H.264 profiles whose SPS carries chroma format, bit depths and scaling lists (7.3.2.1.1). */
const H264_HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);
/** No real SPS is larger; it bounds the copy an escaped NAL costs. */
const MAX_SPS_BYTES = 1024;

export function h264PictureSize(nal: Uint8Array): PictureSize | undefined {
  const r = new BitReader(unescape(nal.subarray(1)));
  const profile = r.bits(8);
  r.bits(16); // constraint flags, level_idc
  r.ue(); // seq_parameter_set_id
  let chroma = 1;
  let separatePlanes = 0;
  if (H264_HIGH_PROFILES.has(profile)) {
    chroma = r.ue();
    if (chroma > 3) return undefined;
    if (chroma === 3) separatePlanes = r.bits(1);
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.bits(1); // qpprime_y_zero_transform_bypass_flag
    if (r.bits(1)) {
      for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) if (r.bits(1)) skipScalingList(r, i < 6 ? 16 : 64);
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.bits(1); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    if (cycle > 255) return undefined;
    for (let i = 0; i < cycle; i++) r.se();
  } else if (pocType !== 2) {
    return undefined;
  }
  r.ue(); // max_num_ref_frames
  r.bits(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bits(1);
  if (!frameMbsOnly) r.bits(1); // mb_adaptive_frame_field_flag
  r.bits(1); // direct_8x8_inference_flag
  const crop = r.bits(1) ? [r.ue(), r.ue(), r.ue(), r.ue()] : [0, 0, 0, 0];
  if (r.overrun) return undefined;
  // Crop offsets count chroma samples, and field pairs when frames may be coded as fields (7.4.2.1.1).
  const chromaArrayType = separatePlanes ? 0 : chroma;
  const unitX = chromaArrayType === 0 || chromaArrayType === 3 ? 1 : 2;
  const unitY = (chromaArrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
  return sized(widthMbs * 16 - unitX * (crop[0]! + crop[1]!), (2 - frameMbsOnly) * heightMapUnits * 16 - unitY * (crop[2]! + crop[3]!));
}

export function hevcPictureSize(nal: Uint8Array): PictureSize | undefined {
  const r = new BitReader(unescape(nal.subarray(2)));
  r.bits(4); // sps_video_parameter_set_id
  const subLayers = r.bits(3); // sps_max_sub_layers_minus1
  r.bits(1); // sps_temporal_id_nesting_flag
  // profile_tier_level(1, subLayers) (7.3.3): general part, then per sub-layer presence flags and parts.
  r.skip(96);
  const present: [number, number][] = [];
  for (let i = 0; i < subLayers; i++) present.push([r.bits(1), r.bits(1)]);
  if (subLayers > 0) r.skip(2 * (8 - subLayers));
  for (const [profile, level] of present) r.skip(profile * 88 + level * 8);
  r.ue(); // sps_seq_parameter_set_id
  const chroma = r.ue();
  if (chroma > 3) return undefined;
  const separatePlanes = chroma === 3 ? r.bits(1) : 0;
  const width = r.ue();
  const height = r.ue();
  const crop = r.bits(1) ? [r.ue(), r.ue(), r.ue(), r.ue()] : [0, 0, 0, 0];
  if (r.overrun) return undefined;
  const chromaArrayType = separatePlanes ? 0 : chroma;
  const unitX = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const unitY = chromaArrayType === 1 ? 2 : 1;
  return sized(width - unitX * (crop[0]! + crop[1]!), height - unitY * (crop[2]! + crop[3]!));
}

function sized(width: number, height: number): PictureSize | undefined {
  return width > 0 && height > 0 ? { width, height } : undefined;
}

/** 7.3.4 scaling_list(): only read past it, the values do not matter here. */
function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size && !r.overrun; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** The RBSP of a NAL: every 0x000003 becomes 0x0000 (the encoder inserted the 03 to hide start codes). */
function unescape(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.min(nal.length, MAX_SPS_BYTES));
  let n = 0;
  let zeros = 0;
  for (let i = 0; i < nal.length && n < out.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** MSB-first bits of an RBSP; reading past the end gives zeros and sets `overrun`. */
class BitReader {
  private at = 0;
  overrun = false;
  constructor(private readonly b: Uint8Array) {}

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    this.at += n;
    if (this.at > this.b.length * 8) this.overrun = true;
  }

  /** Exp-Golomb ue(v); more than 31 leading zeros is no SPS field, so it counts as an overrun. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31 || this.overrun) {
        this.overrun = true;
        return 0;
      }
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 ? (k + 1) / 2 : -k / 2;
  }

  private bit(): number {
    const byte = this.at >> 3;
    if (byte >= this.b.length) {
      this.overrun = true;
      return 0;
    }
    return (this.b[byte]! >> (7 - (this.at++ & 7))) & 1;
  }
}
