/** Real Firefox ESR (Debian's), driven over WebDriver BiDi by puppeteer-core, with fake media. */
import puppeteer, { type Browser } from 'puppeteer-core';

export const FIREFOX = process.env.LANCAST_FIREFOX ?? '/usr/bin/firefox-esr';

export interface FirefoxOptions {
  /** Preferences over the defaults below (e.g. a real microphone: `media.navigator.streams.fake: false`). */
  prefs?: Record<string, unknown>;
  /** A display to run headed on (Xvfb's name, ':N'): Firefox shares a screen only when it has one. */
  display?: string;
}

export function launchFirefox(options: FirefoxOptions = {}): Promise<Browser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: options.display === undefined,
    ...(options.display === undefined ? {} : { env: { ...process.env, DISPLAY: options.display } }),
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.autoplay.default': 0,
      'media.autoplay.block-webaudio': false,
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
      ...options.prefs,
    },
  });
}
