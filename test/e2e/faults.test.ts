/**
 * Faults on the network path: the broadcaster's network is cut for 5 s (its browser runs in a
 * network namespace of its own, whose link the test pulls) and comes back. Viewers must resume
 * without anyone touching a page, in p2p and in relay mode.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertMediaFlowing, pageState, viewerCounters, waitFor, waitForState } from '../helpers/browser.js';
import { remoteBroadcasterSetup, type RemoteSetup } from '../helpers/remote-broadcaster.js';

let setup: RemoteSetup;

before(async () => {
  setup = await remoteBroadcasterSetup();
});

after(async () => {
  await setup?.close();
});

describe("the broadcaster's network is cut for 5 s", () => {
  for (const mode of ['p2p', 'relay'] as const) {
    test(`${mode}: viewers resume by themselves when it comes back`, async (t) => {
      const b = await setup.broadcast(`cut-${mode}`, mode);
      await waitForState(b, 'live', 45_000);
      const v = await setup.watch(`cut-${mode}`);
      await waitForState(v, 'live', 45_000);
      await assertMediaFlowing(v);

      setup.host.cut();
      await new Promise((r) => setTimeout(r, 5_000));
      const during = await pageState(v);
      // A frozen picture is never shown as live: "the picture stopped; reconnecting", or, if the
      // server's heartbeat gave the broadcaster up meanwhile (5-10 s), "the broadcast has ended".
      assert.ok(during === 'connecting' || during === 'offline', `the viewer showed "${during}" during the cut`);
      assert.match((await v.textContent('#overlay')) ?? '', /picture stopped|ended/);
      setup.host.restore();
      const back = Date.now();

      // Live again, and new frames decoded, with no click anywhere.
      const atReturn = (await viewerCounters(v)).framesDecoded;
      await waitFor(() => pageState(v), (s) => s === 'live', 30_000, 'the viewer to be live again');
      await waitFor(() => viewerCounters(v), (c) => c.framesDecoded > atReturn + 30 || c.framesDecoded < atReturn, 30_000, 'frames to be decoded again');
      await assertMediaFlowing(v);
      t.diagnostic(`${mode}: viewer showed "${during}" during the cut; playing again ${Date.now() - back} ms after the network returned`);
      assert.equal(await pageState(b), 'live');
      await Promise.all([b.context().close(), v.close()]);
    });
  }
});
