/** Video clips made with ffmpeg for --use-file-for-fake-video-capture (Chromium loops them). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A moving test pattern (ffmpeg's testsrc2) as a Y4M file in a fresh temporary folder: a camera
 * larger than the fake device's 640x480, where Chromium sends three simulcast layers. `remove()`
 * deletes it.
 */
export function movingClip(width = 1280, height = 720, seconds = 2): { file: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lancast-clip-'));
  const file = join(dir, `clip-${width}x${height}.y4m`);
  execFileSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`, '-t', String(seconds), '-pix_fmt', 'yuv420p', '-y', file]);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
