/**
 * The relay's werift settings: candidates only on the address lancast listens on, no public STUN
 * server unless one was named, a passive DTLS answer when the offer allows it, and legs made with
 * them still connect.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { RTCPeerConnection } from 'werift';
import { iceConfig } from '../../src/relay/ice.js';
import { gatherComplete } from '../../src/relay/sdp.js';
import { installWeriftPatches } from '../../src/relay/werift/index.js';

installWeriftPatches();

test('a leg for --host 127.0.0.1 gathers 127.0.0.1 only, at once, without asking a STUN server', async () => {
  const pc = new RTCPeerConnection(iceConfig({ host: '127.0.0.1', iceServers: [] }));
  try {
    pc.addTransceiver('video', { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await gatherComplete(pc);
    const candidates = [...pc.localDescription!.sdp.matchAll(/^a=candidate:\S+ \d+ \w+ \d+ (\S+) \d+ typ (\w+)/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(candidates, ['127.0.0.1 host']);
    for (const t of pc.iceTransports) assert.equal((t.connection as unknown as { stunServer: unknown }).stunServer, undefined);
  } finally {
    await pc.close();
  }
});

/** A STUN server on loopback that answers every Binding request with the sender's address. */
async function stunServer(): Promise<{ port: number; requests: () => number; close: () => void }> {
  const socket = createSocket('udp4');
  let requests = 0;
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0001) return;
    requests++;
    const res = Buffer.alloc(32);
    res.writeUInt16BE(0x0101, 0); // Binding success
    res.writeUInt16BE(12, 2);
    msg.copy(res, 4, 4, 20); // magic cookie and transaction id
    res.writeUInt16BE(0x0020, 20); // XOR-MAPPED-ADDRESS
    res.writeUInt16BE(8, 22);
    res.writeUInt16BE(0x0001, 24);
    res.writeUInt16BE(rinfo.port ^ 0x2112, 26);
    const ip = rinfo.address.split('.').map(Number);
    res.writeUInt32BE((((ip[0] << 24) | (ip[1] << 16) | (ip[2] << 8) | ip[3]) ^ 0x2112a442) >>> 0, 28);
    socket.send(res, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, requests: () => requests, close: () => socket.close() };
}

test('a STUN server that was named is still asked', async () => {
  const stun = await stunServer();
  const pc = new RTCPeerConnection(iceConfig({ host: '127.0.0.1', iceServers: [{ urls: `stun:127.0.0.1:${stun.port}` }] }));
  try {
    pc.addTransceiver('video', { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await gatherComplete(pc);
    assert.ok(stun.requests() > 0);
    assert.match(pc.localDescription!.sdp, /typ srflx/);
  } finally {
    await pc.close();
    stun.close();
  }
});

/** Two legs with the relay's settings; b answers a's offer (edited by `edit`). */
async function offerAndAnswer(edit: (sdp: string) => string = (sdp) => sdp): Promise<[RTCPeerConnection, RTCPeerConnection]> {
  const a = new RTCPeerConnection(iceConfig({ host: '127.0.0.1', iceServers: [] }));
  const b = new RTCPeerConnection(iceConfig({ host: '127.0.0.1', iceServers: [] }));
  a.addTransceiver('video', { direction: 'sendonly' });
  await a.setLocalDescription(await a.createOffer());
  await gatherComplete(a);
  await b.setRemoteDescription({ type: 'offer', sdp: edit(a.localDescription!.sdp) });
  await b.setLocalDescription(await b.createAnswer());
  await gatherComplete(b);
  return [a, b];
}

test('two legs made with these settings connect over loopback', async () => {
  const [a, b] = await offerAndAnswer();
  try {
    const connected = (pc: RTCPeerConnection) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`still ${pc.connectionState}`)), 5_000);
        pc.connectionStateChange.subscribe((s) => {
          if (s === 'connected') {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    // The offer let either side be the DTLS client: the answerer waits for the offerer's hello.
    assert.match(a.localDescription!.sdp, /a=setup:actpass/);
    assert.match(b.localDescription!.sdp, /a=setup:passive/);
    const both = Promise.all([connected(a), connected(b)]);
    await a.setRemoteDescription(b.localDescription!);
    await both;
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('an offer that insists on being the DTLS server still gets an active answer', async () => {
  const [a, b] = await offerAndAnswer((sdp) => sdp.replace(/a=setup:actpass/g, 'a=setup:passive'));
  try {
    assert.match(b.localDescription!.sdp, /a=setup:active/);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
