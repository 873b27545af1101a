/**
 * What the simulcast end-to-end files share: a relay server whose legs stay on the main thread,
 * one Chromium whose fake camera plays a moving clip of the given size (Chromium sends three
 * simulcast layers only from 960x540 up), pages opened on it, and the height a watch page decodes.
 * Call at a file's top level: it registers the file's before and after hooks.
 */
import { after, before } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.js';
import { movingClip } from './clip.js';
import { startLancast, type Lancast } from './server.js';

export interface SimulcastRig {
  readonly server: Lancast;
  readonly chromium: Browser;
  /** A new page of the rig's Chromium at `path` on the server. */
  open(path: string): Promise<Page>;
}

export function simulcastRig(width: number, height: number): SimulcastRig {
  let server: Lancast | undefined;
  let chromium: Browser | undefined;
  let clip: ReturnType<typeof movingClip> | undefined;
  before(async () => {
    clip = movingClip(width, height);
    [server, chromium] = await Promise.all([startLancast({ env: { LANCAST_RELAY_MAIN_LEGS: '1' } }), launchChromium([`--use-file-for-fake-video-capture=${clip.file}`])]);
  });
  after(async () => {
    await chromium?.close();
    await server?.stop();
    clip?.remove();
  });
  const rig: SimulcastRig = {
    get server() {
      return server!;
    },
    get chromium() {
      return chromium!;
    },
    async open(path) {
      const page = await rig.chromium.newPage();
      await page.goto(`${rig.server.url}${path}`);
      return page;
    },
  };
  return rig;
}

/** The picture height the watch page's video element decodes. */
export const videoHeight = (page: Page): Promise<number> => page.evaluate(() => document.querySelector<HTMLVideoElement>('video[data-testid="remote-video"]')!.videoHeight);
