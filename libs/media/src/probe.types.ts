/**
 * The part of `ffprobe -show_streams -show_format -of json` livemesh reads. ffprobe prints most
 * numbers as strings (to keep rationals and N/A exact); they are kept as printed.
 */
export interface ProbeStream {
  index: number;
  codec_type?: 'video' | 'audio' | 'subtitle' | 'data' | 'attachment' | string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  sample_rate?: string;
  channels?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  time_base?: string;
  start_pts?: number;
  start_time?: string;
  duration?: string;
  nb_frames?: string;
  bit_rate?: string;
}

export interface ProbeFormat {
  format_name?: string;
  nb_streams?: number;
  start_time?: string;
  duration?: string;
  size?: string;
  bit_rate?: string;
}

export interface ProbeResult {
  streams: ProbeStream[];
  format: ProbeFormat;
}

/** Start time in seconds of the first stream of a kind, or undefined when absent or N/A. */
export function streamStartSeconds(probe: ProbeResult, kind: 'video' | 'audio'): number | undefined {
  const s = probe.streams.find((st) => st.codec_type === kind);
  const t = s?.start_time === undefined ? NaN : Number(s.start_time);
  return Number.isFinite(t) ? t : undefined;
}
