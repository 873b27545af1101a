/**
 * A broadcaster on another host: lancast listens on our side of a test host's link, viewers use
 * a Chromium here, and the broadcaster's Chromium runs inside the test host (over https, as a
 * phone on the LAN would).
 */
import { chromium as playwright, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, launchChromium } from './browser.js';
import { createTestHost, type Impairment, type TestHost } from './netns.js';
import { startLancast, type Lancast } from './server.js';

/**
 * Opens a page over the test link. Chromium fails a load that is under way when the machine's
 * addresses change (net::ERR_NETWORK_CHANGED), as a person's browser does when Wi-Fi
 * reconnects; the person reloads, and so does this, up to three times.
 */
async function gotoOverLink(page: Page, url: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(url);
      return;
    } catch (err) {
      if (attempt >= 3 || !String(err).includes('ERR_NETWORK_CHANGED')) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export interface RemoteSetup {
  host: TestHost;
  server: Lancast;
  viewers: Browser;
  broadcasters: Browser;
  /** The broadcast page, opened in the test host's Chromium. */
  broadcast(room: string, mode: string): Promise<Page>;
  /** A watch page, opened here. */
  watch(room: string): Promise<Page>;
  close(): Promise<void>;
}

export async function remoteBroadcasterSetup(impair?: Impairment): Promise<RemoteSetup> {
  const host = await createTestHost(impair);
  const server = await startLancast({ args: ['--host', host.hostAddress] });
  const viewers = await launchChromium();
  const broadcasters = await playwright.launch({ executablePath: host.exec(CHROMIUM), headless: true, args: CHROMIUM_ARGS });
  return {
    host,
    server,
    viewers,
    broadcasters,
    async broadcast(room, mode) {
      const page = await (await broadcasters.newContext({ ignoreHTTPSErrors: true })).newPage();
      await gotoOverLink(page, `https://${host.hostAddress}:${server.port}/broadcast/${room}?key=test-key&autostart=1&mode=${mode}`);
      return page;
    },
    async watch(room) {
      const page = await viewers.newPage();
      await gotoOverLink(page, `http://${host.hostAddress}:${server.port}/watch/${room}`);
      return page;
    },
    async close() {
      await broadcasters.close();
      await viewers.close();
      await server.stop();
      host.remove();
    },
  };
}
