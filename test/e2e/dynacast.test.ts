/**
 * Dynacast (src/relay/dynacast.ts): the relay asks the broadcast page to stop sending the
 * simulcast layers no viewer wants, and to send one again the moment a viewer needs it. A Chromium
 * broadcaster with a 960x540 camera sends three layers (540/270/135) to a relayed room. With every
 * viewer on the top layer the two lower ones are paused within a few seconds: /api/rooms marks
 * them, the relay receives nothing of them, and the page's own outbound-rtp counters for their
 * rids stop. The quality menu still lists them; a viewer who picks 270p plays it within 2 s and the
 * layer is sent again. With every viewer on 135p the top is paused, and a viewer who joins then
 * still gets a picture at once (from the lowest layer) and is moved to the top as it resumes. The
 * main thread keeps one leg (LANCAST_RELAY_MAIN_LEGS), so the viewers' wishes come from the main
 * thread and a worker alike.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { frameGaps, recordFrames, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import { simulcastRig, videoHeight } from '../helpers/simulcast-rig.js';
import { roomInfo, type RoomInfo } from '../helpers/server.js';

const rig = simulcastRig(960, 540);
const open = (path: string): Promise<Page> => rig.open(path);
const menuOptions = (page: Page) => page.evaluate(() => [...document.querySelectorAll<HTMLOptionElement>('#quality option')].map((o) => o.textContent));
type Layer = NonNullable<RoomInfo['layers']>[number];
/** The room's layers as /api/rooms shows them, by height: [height, active, paused, viewers]. */
const layers = async (room: string): Promise<Layer[]> => (await roomInfo(rig.server.url, room))?.layers ?? [];
const states = (ls: Layer[]) => ls.map((l) => [l.height, l.active, l.paused]);
/** The broadcast page's packets sent per rid (its upload to the relay), from its own outbound-rtp stats. */
const sentByRid = (page: Page) =>
  page.evaluate<Record<string, number>>(`(async () => {
    const out = {};
    const stats = await window.lancast.broadcaster.publishing.pc.getStats();
    stats.forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid) out[s.rid] = s.packetsSent; });
    return out;
  })()`);
const metric = async (series: string) => {
  const text = await (await fetch(`${rig.server.url}/metrics`)).text();
  return Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1));
};

describe('dynacast: layers nobody wants are not sent', () => {
  test('with every viewer on the top layer the lower two pause; a viewer picking 270p plays it within 2 s and it is sent again', async (t: TestContext) => {
    const b = await open('/broadcast/dyn?key=test-key&autostart=1&mode=relay');
    const [v1, v2] = [await open('/watch/dyn'), await open('/watch/dyn')];
    try {
      await Promise.all([waitForState(b, 'live', 30_000), waitForState(v1, 'live', 30_000), waitForState(v2, 'live', 30_000)]);
      await waitFor(() => videoHeight(v1), (h) => h === 540, 20_000, 'the top layer on viewer 1');
      await waitFor(() => videoHeight(v2), (h) => h === 540, 10_000, 'the top layer on viewer 2');
      // No viewer on 135p or 270p: both are paused, and the relay receives nothing of them.
      const paused = await waitFor(() => layers('dyn'), (ls) => JSON.stringify(states(ls)) === JSON.stringify([[135, false, true], [270, false, true], [540, true, false]]), 15_000, 'the two lower layers paused');
      assert.deepEqual(paused.map((l) => l.rid), ['q', 'h', 'f']);
      await waitFor(() => layers('dyn'), (ls) => ls[0].bitsPerSecond === 0 && ls[1].bitsPerSecond === 0 && ls[2].bitsPerSecond > 0, 5_000, 'nothing received of the paused layers');
      assert.equal(await metric('lancast_relay_layers_paused'), 2);
      // Over 2 s in which the paused layers stayed as they are (on a busy machine a viewer's link
      // may dip, and Auto take it down a layer for a moment, which resumes that layer; the server
      // logs each change), the page sends nothing on them.
      const changes = () => rig.server.output().split('\n').filter((l) => l.includes('relay publisher layers')).length;
      let sent1: Record<string, number> = {};
      let sent2: Record<string, number> = {};
      for (let tries = 1; ; tries++) {
        await waitFor(() => layers('dyn'), (ls) => ls[0].paused && ls[1].paused && ls[0].bitsPerSecond === 0 && ls[1].bitsPerSecond === 0, 15_000, 'the lower layers paused and not received');
        const before = changes();
        sent1 = await sentByRid(b);
        await new Promise((r) => setTimeout(r, 2_000));
        sent2 = await sentByRid(b);
        if (changes() === before) break;
        assert.ok(tries < 5, `the paused layers changed in each of 5 windows: ${rig.server.output().split('\n').filter((l) => l.includes('relay publisher layers')).slice(-10).join('\n')}`);
      }
      assert.equal(sent2.q, sent1.q, `the page sends nothing on q: ${JSON.stringify([sent1, sent2])}`);
      assert.equal(sent2.h, sent1.h, `the page sends nothing on h: ${JSON.stringify([sent1, sent2])}`);
      assert.ok(sent2.f > sent1.f + 50, `the page sends f: ${JSON.stringify([sent1, sent2])}`);
      // Paused layers are still offered.
      assert.deepEqual(await menuOptions(v1), ['Auto', '540p', '270p', '135p']);

      await recordFrames(v1);
      await recordFrames(v2);
      const picked = Date.now();
      await v1.selectOption('#quality', '270');
      await waitFor(() => videoHeight(v1), (h) => h === 270, 2_000, 'the 270p layer within 2 s of picking it');
      const switchMs = Date.now() - picked;
      t.diagnostic(`270p played ${switchMs} ms after it was picked (resumed from a pause)`);
      const resumed = await waitFor(() => layers('dyn'), (ls) => ls[1].active && !ls[1].paused && ls[1].bitsPerSecond > 0, 3_000, '270p sent again');
      assert.deepEqual(states(resumed)[0], [135, false, true], 'the layer nobody wants stays paused');
      await new Promise((r) => setTimeout(r, 1_000));
      const g1 = await frameGaps(v1);
      const g2 = await frameGaps(v2);
      assert.ok(g1.sinceLastMs < 500 && g1.longestGapMs < 1_000, `viewer 1 played on across the switch (${switchMs} ms): ${JSON.stringify(g1)}`);
      assert.ok(g2.longestGapMs < 1_000, `viewer 2 never froze: ${JSON.stringify(g2)}`);
      assert.equal(await videoHeight(v2), 540);

      // Back on Auto, viewer 1 leaves 270p, and it pauses again.
      await v1.selectOption('#quality', 'auto');
      await waitFor(() => videoHeight(v1), (h) => h === 540, 3_000, 'the top layer again on Auto');
      await waitFor(() => layers('dyn'), (ls) => ls[1].paused && !ls[1].active, 10_000, '270p paused again');
    } finally {
      await Promise.all([b.close(), v1.close(), v2.close()]);
    }
  });

  test('with every viewer on 135p the top pauses; a viewer who joins then plays at once and is moved to the top', async (t: TestContext) => {
    const b = await open('/broadcast/dyn-low?key=test-key&autostart=1&mode=relay');
    const [v1, v2] = [await open('/watch/dyn-low'), await open('/watch/dyn-low')];
    let v3: Page | undefined;
    try {
      await Promise.all([waitForState(b, 'live', 30_000), waitForState(v1, 'live', 30_000), waitForState(v2, 'live', 30_000)]);
      await waitFor(() => menuOptions(v1), (o) => o.length === 4, 20_000, 'a quality menu with three layers');
      await waitFor(() => menuOptions(v2), (o) => o.length === 4, 5_000, 'a quality menu with three layers');
      await v1.selectOption('#quality', '135');
      await v2.selectOption('#quality', '135');
      await waitFor(() => videoHeight(v1), (h) => h === 135, 3_000, '135p on viewer 1');
      await waitFor(() => videoHeight(v2), (h) => h === 135, 3_000, '135p on viewer 2');
      await waitFor(() => layers('dyn-low'), (ls) => JSON.stringify(states(ls)) === JSON.stringify([[135, true, false], [270, false, true], [540, false, true]]), 15_000, 'the two upper layers paused');

      const joined = Date.now();
      v3 = await open('/watch/dyn-low');
      await waitFor(() => viewerCounters(v3!), (c) => c.framesDecoded > 0, 10_000, 'a first frame on the new viewer');
      const firstFrameMs = Date.now() - joined;
      t.diagnostic(`first frame ${firstFrameMs} ms after the page opened, the top layer paused`);
      await waitFor(() => videoHeight(v3!), (h) => h === 540, 5_000, `the top layer on the new viewer (first frame after ${firstFrameMs} ms)`);
      const ls = await waitFor(() => layers('dyn-low'), (ls) => ls[2].active && !ls[2].paused, 3_000, 'the top layer sent again');
      assert.equal(ls[0].paused, false, 'the layer the others play is never paused');
      assert.equal(await videoHeight(v1), 135);
      assert.equal(await videoHeight(v2), 135);
    } finally {
      await Promise.all([b.close(), v1.close(), v2.close(), v3?.close()]);
    }
  });
});
