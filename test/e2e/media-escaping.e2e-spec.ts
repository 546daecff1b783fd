// escapeFilterValue against ffmpeg itself: each hostile value goes through libavfilter's real graph
// and option parsers (a `metadata` filter adds it to a frame, a second prints it) and must come
// back byte for byte, as one value, with the graph otherwise unchanged. The unit test beside the
// builder checks the same against a model of av_get_token(); this one checks the model.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { escapeFilterValue } from '@livemesh/media';
import { requireExecutable } from '../support/tools.js';

const run = promisify(execFile);

const HOSTILE = [
  "it's",
  'a:b=c',
  'x,drawbox=c=red',
  "'[out]; movie=/etc/passwd [x]",
  '%{pts} %{eif:1/0:d} %{metadata:foo}',
  'back\\slash\\',
  "\\'\\:\\,",
  ' leading and trailing ',
  ';[in]split[a][b]',
  'tab\there',
];

describe('escapeFilterValue, parsed by ffmpeg', () => {
  const ffmpeg = requireExecutable('ffmpeg', 'ffmpeg');

  it.each(HOSTILE)('brings %j back from a real filter graph as one literal value', async (value) => {
    const graph = `metadata=mode=add:key=lm_probe:value=${escapeFilterValue(value)},metadata=mode=print`;
    const { stderr } = await run(ffmpeg, ['-hide_banner', '-nostdin', '-v', 'info', '-f', 'lavfi', '-i', 'color=s=16x16:d=0.04:r=25', '-vf', graph, '-frames:v', '1', '-f', 'null', '-']);
    // One metadata filter added the key and one printed it: a value that split the graph would
    // have made more filters (or failed to parse).
    const printed = stderr.split('\n').filter((l) => l.includes('] lm_probe='));
    expect(printed).toHaveLength(1);
    expect(printed[0]!.slice(printed[0]!.indexOf('] lm_probe=') + '] lm_probe='.length)).toBe(value);
    expect(stderr).toContain('Parsed_metadata_1');
    expect(stderr).not.toContain('Parsed_metadata_2');
  }, 30_000);
});
