/** One rendition as the multivariant playlist lists it. */
export interface VariantInfo {
  rendition: string;
  /** Peak bit rate, bits/s (EXT-X-STREAM-INF BANDWIDTH). */
  bandwidth: number;
  /** Average bit rate, bits/s. */
  averageBandwidth?: number;
  /** Left out when unknown: no hop recorded the picture size and delivery does not probe. */
  resolution?: { width: number; height: number };
}

/**
 * The multivariant (master) playlist of a stream with several renditions, each linked as
 * `<rendition>/<file>` relative to `/hls/<streamId>/index.m3u8` (`file` is `index.m3u8`, or for a
 * time-shifted start `index.m3u8?from=<seq>` or `event.m3u8`). Renditions are listed by name
 * so the text stays the same between reloads while bit rate estimates move; players sort by
 * BANDWIDTH themselves.
 */
export function renderMultivariant(variants: readonly VariantInfo[], file = 'index.m3u8'): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3'];
  for (const v of [...variants].sort((a, b) => (a.rendition < b.rendition ? -1 : a.rendition > b.rendition ? 1 : 0))) {
    const attrs = [`BANDWIDTH=${Math.max(1, Math.ceil(v.bandwidth))}`];
    if (v.averageBandwidth !== undefined) attrs.push(`AVERAGE-BANDWIDTH=${Math.max(1, Math.ceil(v.averageBandwidth))}`);
    if (v.resolution) attrs.push(`RESOLUTION=${v.resolution.width}x${v.resolution.height}`);
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`);
    lines.push(`${v.rendition}/${file}`);
  }
  return lines.join('\n') + '\n';
}
