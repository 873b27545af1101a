/**
 * Quality presets in real Chromium: a shared page of small black-on-white text stays sharp
 * through the relay with the screen's default preset (PSNR of a viewer's decoded frame against
 * the broadcaster's captured frame), presets change what is sent while live, are kept for the
 * next visit, and the page shows what it sends.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { waitFor, waitForState } from '../helpers/browser.js';
import { grabLuma, lumaPsnr, sharingRig } from './sources-kit.js';

const TITLE = 'LANCAST-TEXT-TAB';
const rig = sharingRig(TITLE);

async function open(url: string, ctx: BrowserContext = rig.context): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(url);
  return page;
}

/** The broadcaster's video sender: its parameters, and what its encoder sends. */
function sender(page: Page): Promise<{ maxBitrate?: number; maxFramerate?: number; degradationPreference?: string; width: number; height: number }> {
  return page.evaluate(`(async () => {
    const b = window.lancast.broadcaster;
    const pc = b.publishing ? b.publishing.pc : [...b.connections.values()][0].pc;
    const s = pc.getSenders().find((x) => x.track && x.track.kind === 'video');
    const p = s.getParameters();
    const out = { maxBitrate: p.encodings[0].maxBitrate, maxFramerate: p.encodings[0].maxFramerate, degradationPreference: p.degradationPreference, width: 0, height: 0 };
    (await pc.getStats()).forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'video') { out.width = r.frameWidth || 0; out.height = r.frameHeight || 0; } });
    return out;
  })()`) as never;
}

describe('sharpness', () => {
  test('small black-on-white text through the relay, default screen preset: PSNR ≥ 35 dB within 10 s of full-size frames', async (t) => {
    const shared = await open(`${rig.site.url}/text?title=${TITLE}`);
    const b = await open(`${rig.server.url}/broadcast/sharp?key=test-key&autostart=1&mode=relay&source=screen`);
    const viewerContext = await rig.browser.newContext();
    try {
      await waitForState(b, 'live', 20_000);
      assert.equal(await b.evaluate(() => document.body.dataset.preset), 'text');
      const v = await open(`${rig.server.url}/watch/sharp`, viewerContext);
      await waitForState(v, 'live', 30_000);
      await waitFor(() => v.evaluate(() => { const e = document.querySelector('video')!; return [e.videoWidth, e.videoHeight]; }), (s) => s[0] === 1280 && s[1] === 720, 20_000, 'full-size frames');
      // The encoder ramps its quality up over the first seconds (3 s on a quiet machine, more
      // on a busy one): read the viewer's frame against the broadcaster's once a second from 3 s on.
      await new Promise((r) => setTimeout(r, 3_000));
      const readings: number[] = [];
      for (let at = 3; at <= 10; at++) {
        const source = await grabLuma(b, '#preview');
        const decoded = await grabLuma(v, 'video[data-testid="remote-video"]');
        readings.push(lumaPsnr(source, decoded));
        if (readings[readings.length - 1] >= 35) break;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      const psnr = readings[readings.length - 1];
      t.diagnostic(`PSNR ${readings.map((x) => x.toFixed(1)).join(', ')} dB, a second apart from 3 s (luma, 1280x720, text preset, relay)`);
      assert.ok(psnr >= 35, `PSNR ${readings.map((x) => x.toFixed(1)).join(', ')} dB, a second apart from 3 s after full-size frames`);
      const s = await sender(b);
      assert.equal(s.maxFramerate, 15);
      assert.equal(s.maxBitrate, 6_000_000);
    } finally {
      await viewerContext.close();
      await b.close();
      await shared.close();
    }
  });
});

/** The width / height a "Sending W×H · …" line names. */
function aspect(line: string | null): number | undefined {
  const m = /^Sending (\d+)×(\d+) /.exec(line ?? '');
  return m ? Number(m[1]) / Number(m[2]) : undefined;
}

describe('presets', () => {
  test('a preset picked while live applies at once to what is sent, and the page says what it sends', async () => {
    const b = await open(`${rig.server.url}/broadcast/presets?key=test-key&autostart=1&mode=p2p&source=camera`);
    const viewerContext = await rig.browser.newContext();
    try {
      await waitForState(b, 'live', 20_000);
      const v = await open(`${rig.server.url}/watch/presets`, viewerContext);
      await waitForState(v, 'live', 30_000);
      assert.equal(await b.evaluate(() => document.body.dataset.preset), 'camera');
      await waitFor(() => sender(b), (s) => s.maxBitrate === 2_500_000 && s.maxFramerate === 30, 10_000, 'the camera preset on the sender');
      // The size is the encoder's: libwebrtc may scale a 640x480 camera down while the machine is busy.
      const line = await waitFor(() => b.textContent('#sending'), (text) => /^Sending \d+×\d+ · \d+ fps · [\d.]+\s(k|M)bit\/s$/.test(text ?? ''), 20_000, 'the sending line');
      assert.ok(Math.abs((aspect(line) ?? 0) - 4 / 3) < 0.02, line ?? '');
      assert.ok(line);

      await b.selectOption('#preset', 'saver');
      await waitFor(() => sender(b), (s) => s.maxBitrate === 600_000 && s.maxFramerate === 15, 10_000, 'the data saver on the sender');
      // The camera now captures 640x360: the viewer decodes that size.
      await waitFor(() => v.evaluate(() => { const e = document.querySelector('video')!; return [e.videoWidth, e.videoHeight]; }), (s) => s[0] === 640 && s[1] === 360, 20_000, 'the smaller picture at the viewer');
      await waitFor(() => b.textContent('#sending'), (text) => Math.abs((aspect(text) ?? 0) - 16 / 9) < 0.02, 20_000, 'the sending line to follow (16:9)');
      await viewerContext.close();
    } finally {
      await viewerContext.close().catch(() => undefined);
      await b.close();
    }
  });

  test('the picked preset is kept for the next visit; preset= in the URL wins', async () => {
    const ctx = await rig.browser.newContext({ permissions: ['camera', 'microphone'] });
    try {
      const first = await open(`${rig.server.url}/broadcast/kept?key=test-key`, ctx);
      assert.equal(await first.inputValue('#preset'), 'auto');
      await first.selectOption('#preset', 'motion');
      await first.close();
      const again = await open(`${rig.server.url}/broadcast/kept?key=test-key`, ctx);
      assert.equal(await again.inputValue('#preset'), 'motion');
      await again.close();
      const url = await open(`${rig.server.url}/broadcast/kept?key=test-key&preset=saver`, ctx);
      assert.equal(await url.inputValue('#preset'), 'saver');
    } finally {
      await ctx.close();
    }
  });
});
