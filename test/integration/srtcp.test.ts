/**
 * RTCP both ways through the real server, with libwebrtc (@roamhq/wrtc) at each end: a WHIP
 * publisher and a WHEP viewer of its relayed room. The server protects every leg's SRTCP
 * natively (src/relay/rtcp-crypto.ts); with LANCAST_NATIVE=0, werift's own. Either way:
 * - the viewer decrypts the relay's sender reports: its getStats has a remote-outbound-rtp (audio:
 *   this libwebrtc has it for no other kind);
 * - the relay decrypts the viewer's receiver reports and REMB: the viewer is still in the room
 *   after longer than the relay lets a viewer stay silent (8 s), and still decoding;
 * - the relay decrypts the publisher's sender reports and answers with receiver reports that
 *   carry their timestamps: the publisher's remote-inbound-rtp has a round-trip time; and its
 *   keyframe request for the new viewer reaches the publisher (outbound-rtp pliCount).
 * With native SRTCP the relay also reads the viewer's RTCP itself (src/relay/rtcp-intake.ts) and
 * answers its consent checks (native/fanout.c `stun_answer`): /metrics counts both, and the
 * viewer's own stats show it took the answers; with werift's SRTCP it reads and answers none itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers/browser.js';
import { metricValue, startLancast, type Lancast } from '../helpers/server.js';
import { whepPlay, whipPublish, type HttpSession } from '../helpers/wrtc.js';

type Stat = { type: string; kind?: string; reportsSent?: number; roundTripTime?: number; pliCount?: number };

async function stat(session: HttpSession, type: string, kind: 'audio' | 'video'): Promise<Stat | undefined> {
  let found: Stat | undefined;
  (await session.pc.getStats()).forEach((s: Stat) => {
    if (s.type === type && s.kind === kind) found = s;
  });
  return found;
}

/** The pair the session's ICE agent sends on: the answers to its checks it took. */
async function selectedPair(session: HttpSession): Promise<{ responsesReceived: number; requestsReceived: number; responsesSent: number } | undefined> {
  let transport: { selectedCandidatePairId?: string } | undefined;
  const pairs = new Map<string, { responsesReceived: number; requestsReceived: number; responsesSent: number }>();
  (await session.pc.getStats()).forEach((s: { type: string; id: string; selectedCandidatePairId?: string; responsesReceived?: number; requestsReceived?: number; responsesSent?: number }) => {
    if (s.type === 'transport') transport = s;
    if (s.type === 'candidate-pair') pairs.set(s.id, { responsesReceived: s.responsesReceived ?? 0, requestsReceived: s.requestsReceived ?? 0, responsesSent: s.responsesSent ?? 0 });
  });
  return transport?.selectedCandidatePairId ? pairs.get(transport.selectedCandidatePairId) : undefined;
}

async function viewersOf(server: Lancast, room: string): Promise<number | undefined> {
  const { rooms } = (await (await fetch(`${server.url}/api/rooms`)).json()) as { rooms: { name: string; viewers: number }[] };
  return rooms.find((r) => r.name === room)?.viewers;
}

for (const { name, env, banner, readsRtcp } of [
  { name: 'native SRTCP', env: {}, banner: 'native forwarding', readsRtcp: true },
  { name: "werift's SRTCP (LANCAST_NATIVE=0)", env: { LANCAST_NATIVE: '0' }, banner: 'TypeScript forwarding', readsRtcp: false },
]) {
  describe(`RTCP through the relay, ${name}`, () => {
    let server: Lancast;
    before(async () => {
      server = await startLancast({ env });
    });
    after(async () => {
      await server?.stop();
    });

    test('sender reports, receiver reports, REMB and PLI get through in both directions on both legs', async () => {
      assert.match(server.output(), new RegExp(banner));
      const pub = await whipPublish(server.url, 'rtcp', server.publishKey, { width: 320, height: 240 });
      assert.equal(pub.status, 201, pub.body);
      const viewer = await whepPlay(server.url, 'rtcp');
      try {
        assert.equal(viewer.status, 201, viewer.body);
        const joined = Date.now();
        await waitFor(async () => viewer.frames().count, (n) => n > 10, 15_000, 'decoded frames');

        // This libwebrtc keeps remote-outbound-rtp for audio only; the relay reports audio every 2.5-7.5 s.
        await waitFor(() => stat(viewer, 'remote-outbound-rtp', 'audio'), (s) => (s?.reportsSent ?? 0) >= 1, 10_000, "the viewer's remote-outbound-rtp (the relay's sender reports)");
        const rtt = await waitFor(() => stat(pub, 'remote-inbound-rtp', 'video'), (s) => (s?.roundTripTime ?? 0) > 0, 10_000, "the publisher's remote-inbound-rtp round-trip time");
        assert.ok(rtt!.roundTripTime! < 1, `a loopback round trip: ${rtt!.roundTripTime} s`);
        const outbound = await stat(pub, 'outbound-rtp', 'video');
        assert.ok((outbound?.pliCount ?? 0) >= 1, `the relay's keyframe request reached the publisher: ${JSON.stringify(outbound)}`);

        // The relay closes a viewer it has not heard RTCP from for 8 s.
        const pairBefore = await selectedPair(viewer);
        assert.ok(pairBefore, "the viewer's selected candidate pair");
        await new Promise((r) => setTimeout(r, Math.max(0, joined + 10_000 - Date.now())));
        // The viewer checks its pair every 2.5 s or so (RFC 7675); the relay's answers are taken, natively made or werift's.
        const pairAfter = (await selectedPair(viewer))!;
        assert.ok(pairAfter.responsesReceived > pairBefore.responsesReceived, `the viewer took the relay's answers: ${JSON.stringify([pairBefore, pairAfter])}`);
        const answered = await metricValue(server.url, 'lancast_relay_consent_answered_natively_total');
        if (readsRtcp) assert.ok((answered ?? 0) >= 1, `the viewer's consent checks answered natively: ${answered}`);
        else assert.equal(answered, 0);
        // The relay checks the pair every 4-6 s as well: natively where it reads the leg's RTCP, and the viewer answers.
        await waitFor(() => selectedPair(viewer), (p) => p!.requestsReceived > pairBefore.requestsReceived && p!.responsesSent > pairBefore.responsesSent, 8_000, "the viewer answering the relay's consent checks");
        const checks = await metricValue(server.url, 'lancast_relay_consent_checks_sent_natively_total');
        if (readsRtcp) assert.ok((checks ?? 0) >= 1, `the relay's consent checks sent natively: ${checks}`);
        else assert.equal(checks, 0);
        assert.equal(await viewersOf(server, 'rtcp'), 1, `the viewer is still in the room:\n${server.output().slice(-2000)}`);
        const read = await metricValue(server.url, 'lancast_relay_rtcp_read_natively_total');
        // ~10 s of a viewer's reports: libwebrtc sends a compound at least every second.
        if (readsRtcp) assert.ok((read ?? 0) >= 10, `the viewer's RTCP read natively: ${read}`);
        else assert.equal(read, 0);
        // The sender reports the viewer counted (remote-outbound-rtp, above) went from the leg's socket natively.
        const sent = await metricValue(server.url, 'lancast_relay_rtcp_sent_natively_total');
        if (readsRtcp) assert.ok((sent ?? 0) >= 5, `sender reports sent natively: ${sent}`);
        else assert.equal(sent, 0);
        const before = viewer.frames().count;
        await waitFor(async () => viewer.frames().count, (n) => n > before + 10, 5_000, 'frames still decoding');
        assert.equal(await viewer.stop(), 200);
      } finally {
        await viewer.stop().catch(() => undefined);
        await pub.stop();
      }
    });
  });
}
