/**
 * The relay's own consent checks on a leg whose RTCP it reads (src/relay/consent-checks.ts,
 * native/fanout.c `checkConsent`), on a real connected werift pair over loopback with the timings
 * shortened: the checks go out natively instead of werift's, the far end's werift answers them and
 * the answers are taken where the leg's RTCP is read; a far end that stops answering fails the leg
 * at the timeout, as werift's loop would; stopped, werift runs its own loop again.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection } from 'werift';
import { consentTiming } from '../../src/relay/consent-checks.js';
import { iceConfig } from '../../src/relay/ice.js';
import { pauseReading } from '../../src/relay/native.js';
import { useNativeSrtcp } from '../../src/relay/rtcp-crypto.js';
import { readRtcp } from '../../src/relay/rtcp-intake.js';
import { installWeriftPatches } from '../../src/relay/werift/index.js';
import { connectPair } from '../helpers/werift-pair.js';

interface Agent {
  state: string;
  consentFresh: boolean;
  queryConsentHandle?: unknown;
  nominated?: {
    consentRequestsSent: number;
    responsesReceived: number;
    rtt?: number;
    protocol: { transport: { socket: import('node:dgram').Socket } };
  };
}
const agentOf = (pc: RTCPeerConnection) => (pc.iceTransports[0] as unknown as { connection: Agent }).connection;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const timing = { ...consentTiming };
let relay: RTCPeerConnection;
let viewer: RTCPeerConnection;
beforeEach(async () => {
  installWeriftPatches();
  Object.assign(consentTiming, { intervalMs: 200, timeoutMs: 1_500, tickMs: 20 });
  const config = iceConfig({ host: '127.0.0.1', iceServers: [] });
  relay = new RTCPeerConnection(config);
  viewer = new RTCPeerConnection(config);
  relay.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
  await connectPair(relay, viewer);
  assert.equal(useNativeSrtcp(relay), true);
});
afterEach(async () => {
  Object.assign(consentTiming, timing);
  await Promise.all([relay.close(), viewer.close()]);
});

test("the relay's checks go out natively in place of werift's, the far end answers them, and the answers keep consent fresh", async () => {
  const agent = agentOf(relay);
  assert.ok(agent.queryConsentHandle, "werift's own loop runs before");
  const stop = readRtcp(relay);
  assert.equal(typeof stop, 'function', String(stop));
  try {
    assert.equal(agent.queryConsentHandle, undefined, "werift's own loop is stopped");
    assert.equal(agent.consentFresh, true);
    const pair = agent.nominated!;
    const [sent, answered] = [pair.consentRequestsSent, pair.responsesReceived];
    // Far past the timeout: only answers taken natively keep the leg up.
    await sleep(3 * consentTiming.timeoutMs);
    assert.ok(pair.consentRequestsSent - sent >= 5, `checks sent: ${pair.consentRequestsSent - sent}`);
    assert.ok(pair.responsesReceived - answered >= 4, `answers taken: ${pair.responsesReceived - answered} of ${pair.consentRequestsSent - sent}`);
    assert.ok(pair.rtt! > 0 && pair.rtt! < 0.2, `round trip ${pair.rtt} s`);
    assert.equal(agent.queryConsentHandle, undefined, 'werift has not started its own again');
    assert.equal(relay.connectionState, 'connected');
    assert.equal(agent.consentFresh, true);
  } finally {
    (stop as () => void)();
  }
  assert.ok(agentOf(relay).queryConsentHandle, "stopped: werift's own loop runs again");
});

test('a far end that stops answering fails the leg at the timeout, as werift would', async () => {
  const stop = readRtcp(relay);
  assert.equal(typeof stop, 'function', String(stop));
  try {
    const failed = new Promise<void>((resolve) => relay.connectionStateChange.subscribe((s) => s === 'failed' && resolve()));
    // The viewer's process hangs: its socket is no longer read, so nothing answers.
    const resume = pauseReading(agentOf(viewer).nominated!.protocol.transport.socket);
    assert.ok(resume);
    const from = Date.now();
    await Promise.race([failed, sleep(4 * consentTiming.timeoutMs).then(() => assert.fail('the leg did not fail'))]);
    const after = Date.now() - from;
    assert.ok(after >= consentTiming.timeoutMs - 100, `failed after ${after} ms`);
    assert.equal(agentOf(relay).consentFresh, false);
    resume();
  } finally {
    (stop as () => void)();
  }
});

test("with LANCAST_NATIVE_CONSENT=0 werift's own loop stays", async () => {
  const agent = agentOf(relay);
  const stop = readRtcp(relay, { LANCAST_NATIVE_CONSENT: '0' });
  assert.equal(typeof stop, 'function', String(stop));
  try {
    assert.ok(agent.queryConsentHandle, "werift's loop runs");
    const pair = agent.nominated!;
    const sent = pair.consentRequestsSent;
    await sleep(1_000);
    assert.equal(pair.consentRequestsSent, sent, 'no checks of ours (werift sends its own every 4-6 s)');
  } finally {
    (stop as () => void)();
  }
});
