import { defineFrameStage, serviceSpecOf } from '@livemesh/stage-sdk';

export interface ThumbnailParams {
  /** A JPEG every this many seconds of the source timeline. */
  everySeconds: number;
  width: number;
}

const paramSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    everySeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 10 },
    width: { type: 'integer', minimum: 16, maximum: 1920, multipleOf: 2, default: 320 },
  },
};

/** Object-store names of a stream's thumbnails; the orchestrator serves `latest`. */
export const thumbnailBlobNames = {
  latest: (streamId: string) => `thumb/${streamId}/latest.jpg`,
  at: (streamId: string, seq: number, pts: number) => `thumb/${streamId}/${seq}-${Math.round(pts)}.jpg`,
};

export const thumbnailStage = defineFrameStage<ThumbnailParams>({
  name: 'thumbnail',
  params: paramSchema,
  // Frames at whole seconds of the source timeline: each instant belongs to exactly one segment,
  // so "every N seconds" never fires twice at a segment join or skips one.
  sample: (p) => ({ fps: 1, width: p.width, format: 'jpeg' }),
  async onFrame(frame, ctx) {
    const second = Math.round(frame.pts);
    if (second % ctx.params.everySeconds !== 0) return;
    const { meta } = ctx.segment;
    const name = await ctx.blobs.put(thumbnailBlobNames.at(meta.streamId, meta.seq, frame.pts), frame.data);
    await ctx.blobs.put(thumbnailBlobNames.latest(meta.streamId), frame.data);
    await ctx.report('thumbnail', { blob: name, latest: thumbnailBlobNames.latest(meta.streamId), pts: frame.pts, width: frame.width, height: frame.height, bytes: frame.data.byteLength });
  },
});

export const thumbnailSpec = serviceSpecOf(thumbnailStage, {
  version: '1.0.0',
  description: 'A JPEG every N seconds to the object store (thumb/<stream>/latest.jpg and thumb/<stream>/<seq>.jpg), announced as a thumbnail event; segments pass through unchanged.',
  builtIn: true,
});
