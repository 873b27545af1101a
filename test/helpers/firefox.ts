/** Real Firefox ESR (Debian's), driven over WebDriver BiDi by puppeteer-core, with fake media. */
import puppeteer, { type Browser } from 'puppeteer-core';

export const FIREFOX = process.env.LANCAST_FIREFOX ?? '/usr/bin/firefox-esr';

export function launchFirefox(): Promise<Browser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.autoplay.default': 0,
      'media.autoplay.block-webaudio': false,
      'media.peerconnection.ice.loopback': true,
      'media.peerconnection.ice.obfuscate_host_addresses': false,
    },
  });
}
