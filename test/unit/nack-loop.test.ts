/**
 * werift's NACK generator, with lancast's `nack-loop` patch and without: werift's own NackHandler
 * (taken from a real receiver werift makes), fed RTP packets with a gap, its NACKs going out
 * through the receiver's transport as werift sends them (here into a list). werift's loop keeps
 * running after the gap is filled (a wake-up every 5 ms for the life of the leg); lancast's stops,
 * asks at once, and asks again every 20 ms, at most werift's 10 times.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GenericNack, RTCRtpReceiver, RtpHeader, RtpPacket, type RtcpTransportLayerFeedback } from 'werift';
import { installWeriftPatches, replacements } from '../../src/relay/werift/index.js';
import { NACK_INTERVAL_MS } from '../../src/relay/werift/nack-loop.js';

installWeriftPatches();

interface Nack {
  nackLoop: NodeJS.Timeout | undefined;
  setLost(seq: number, count: number): void;
  addPacket(packet: RtpPacket): void;
  close(): void;
}

/** werift's NackHandler on a receiver whose transport keeps what it is asked to send. */
function generator(setLost?: Nack['setLost']): { nack: Nack; sent: number[][]; at: number[] } {
  const receiver = new RTCRtpReceiver({} as never, 'video', 1234) as unknown as { nack: Nack; dtlsTransport: unknown };
  const sent: number[][] = [];
  const at: number[] = [];
  receiver.dtlsTransport = {
    sendRtcp: (packets: RtcpTransportLayerFeedback[]) => {
      for (const p of packets) sent.push((p.feedback as GenericNack).lost.slice());
      at.push(performance.now());
      return Promise.resolve();
    },
  };
  if (setLost) receiver.nack.setLost = setLost;
  return { nack: receiver.nack, sent, at };
}

const packet = (seq: number) => new RtpPacket(new RtpHeader({ sequenceNumber: seq, ssrc: 42, payloadType: 96 }), Buffer.alloc(10));

/** Waits for `done`, checking every few ms, up to `ms` (the loop's timing is the host's). */
async function until(done: () => boolean, ms = 3_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!done() && performance.now() < deadline) await sleep(5);
}
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

test("werift's own loop never stops once a packet was missing (what the patch is for)", async () => {
  const own = replacements.find((r) => r.target === 'NackHandler.prototype.setLost')!.original as Nack['setLost'];
  const { nack, sent } = generator(own);
  try {
    for (const seq of [100, 101, 103]) nack.addPacket(packet(seq)); // 102 missing
    await until(() => sent.length >= 1);
    assert.ok(sent.length >= 1, 'it NACKed 102');
    nack.addPacket(packet(102)); // it came
    await sleep(60);
    assert.notEqual(nack.nackLoop, undefined, "werift's interval still runs with nothing missing");
  } finally {
    nack.close();
  }
});


test('the patched generator asks at once for the whole gap, asks again, and stops when the packets come', async () => {
  const { nack, sent } = generator();
  try {
    for (const seq of [100, 101, 104]) nack.addPacket(packet(seq)); // 102 and 103 missing
    // The first NACK is queued for the event loop's next turn, before any interval tick.
    await nextTurn();
    assert.deepEqual(sent, [[102, 103]], 'one NACK for the whole gap, at once');
    await until(() => sent.length >= 2);
    assert.deepEqual(sent[1], [102, 103], 'asked again');
    nack.addPacket(packet(102));
    nack.addPacket(packet(103));
    await until(() => nack.nackLoop === undefined);
    assert.equal(nack.nackLoop, undefined, 'the loop stopped with nothing missing');
    const n = sent.length;
    await sleep(NACK_INTERVAL_MS * 3);
    assert.equal(sent.length, n, 'and sends nothing more');
  } finally {
    nack.close();
  }
});

test("a packet that never comes is asked for as many times as werift's retry count allows, then the loop stops", async () => {
  const { nack, sent } = generator();
  try {
    for (const seq of [200, 202]) nack.addPacket(packet(seq)); // 201 never comes
    await until(() => nack.nackLoop === undefined, 5_000);
    assert.equal(nack.nackLoop, undefined, 'given up: the loop stopped');
    const asked = sent.filter((lost) => lost.includes(201)).length;
    assert.ok(asked >= 10 && asked <= 12, `201 asked for ${asked} times`);
  } finally {
    nack.close();
  }
});
