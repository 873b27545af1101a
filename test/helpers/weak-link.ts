/**
 * What each weak-link browser test sets up before its tests and tears down after: a moving clip
 * of the given size as the broadcaster's camera, lancast on the test host's address, a Chromium on
 * this machine and one inside the test host, behind its impaired link (test/helpers/impair.py:
 * 5 ms each way, no loss and no cap until the test sets them).
 */
import { after, before } from 'node:test';
import { chromium as playwright, type Browser } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, launchChromium } from './browser.js';
import { movingClip } from './clip.js';
import { createTestHost, type TestHost } from './netns.js';
import { startLancast, type Lancast } from './server.js';

export interface WeakLinkRig {
  host: TestHost;
  server: Lancast;
  /** Chromium on this machine (the broadcaster's camera is the clip). */
  here: Browser;
  /** Chromium inside the test host, behind the impaired link. */
  there: Browser;
}

export function weakLinkRig(width: number, height: number): WeakLinkRig {
  const rig = {} as WeakLinkRig;
  let clip: ReturnType<typeof movingClip> | undefined;
  before(async () => {
    clip = movingClip(width, height);
    rig.host = await createTestHost({ loss: 0, delayMs: 5, rateBps: 0 });
    rig.server = await startLancast({ args: ['--host', rig.host.hostAddress] });
    rig.here = await launchChromium([`--use-file-for-fake-video-capture=${clip.file}`]);
    rig.there = await playwright.launch({ executablePath: rig.host.exec(CHROMIUM), headless: true, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await rig.there?.close();
    await rig.here?.close();
    await rig.server?.stop();
    rig.host?.remove();
    clip?.remove();
  });
  return rig;
}
