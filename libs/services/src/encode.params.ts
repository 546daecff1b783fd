import type { X264Preset } from '@livemesh/media';

/**
 * Parameter definitions shared by the services that re-encode video, so one schema says what a
 * preset or a quality may be. Presets stop at `medium`: slower ones cannot keep a 2 s segment
 * ahead of real time on the machines a stage typically gets.
 */
export const presetParam = {
  type: 'string',
  enum: ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium'],
  default: 'veryfast',
};

/** The presets presetParam allows. */
export type StagePreset = Extract<X264Preset, 'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast' | 'medium'>;

/** x264 constant rate factor: lower is better quality and more bytes. */
export const crfParam = { type: 'integer', minimum: 0, maximum: 51, default: 23 };
