/**
 * A lossy UDP path on 127.0.0.1 between a WebRTC client and a server: the client is given the
 * proxy's address as the server's only candidate (rewrite the answer with `candidateIn`); the
 * proxy forwards both ways and drops every `every`-th RTP packet of the answer's primary video
 * codec from the server (not retransmissions, which come with RTX's payload type). STUN, DTLS,
 * RTCP and audio pass, so the connection comes up and repairs (NACK, retransmissions) can flow.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';

export interface LossyPath {
  /** Video RTP packets (primary codec) from the server dropped so far. */
  dropped(): number;
  /** Retransmissions (RTX) from the server that passed. */
  resent(): number;
  /** An answer whose candidates are replaced by the proxy's one. */
  candidateIn(answer: string): string;
  close(): void;
}

export async function lossyPath(every: number): Promise<LossyPath> {
  const facingClient = createSocket('udp4');
  const facingServer = createSocket('udp4');
  await Promise.all([facingClient, facingServer].map((s) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))));
  let server: { address: string; port: number } | undefined;
  let videoPt = -1;
  let rtxPt = -1;
  let resent = 0;
  let client: RemoteInfo | undefined;
  let rtp = 0;
  let dropped = 0;
  facingClient.on('message', (msg, from) => {
    client = from;
    if (server) facingServer.send(msg, server.port, server.address);
  });
  facingServer.on('message', (msg) => {
    if (!client) return;
    const pt = msg.length >= 12 && (msg[0] & 0xc0) === 0x80 ? msg[1] & 0x7f : -1;
    if (pt === rtxPt) resent++;
    if (pt === videoPt && ++rtp % every === 0) {
      dropped++;
      return;
    }
    facingClient.send(msg, client.port, client.address);
  });
  const port = facingClient.address().port;
  return {
    dropped: () => dropped,
    resent: () => resent,
    candidateIn(answer) {
      const found = /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host.*$/m.exec(answer);
      if (!found) throw new Error('the answer has no UDP host candidate on 127.0.0.1');
      server = { address: '127.0.0.1', port: Number(found[1]) };
      const video = /^m=video \d+ \S+ (\d+)/m.exec(answer);
      if (!video) throw new Error('the answer has no video');
      videoPt = Number(video[1]);
      rtxPt = Number(/^a=rtpmap:(\d+) rtx\//m.exec(answer)?.[1] ?? -1);
      const candidate = `a=candidate:1 1 udp 2130706431 127.0.0.1 ${port} typ host`;
      // Each m-section gets the proxy's candidate in place of the server's own ones.
      return answer
        .split(/\r?\n/)
        .filter((l) => !l.startsWith('a=candidate:') && !l.startsWith('a=end-of-candidates'))
        .flatMap((l) => (l.startsWith('a=ice-pwd:') ? [l, candidate] : [l]))
        .join('\r\n');
    },
    close() {
      for (const s of [facingClient, facingServer]) {
        try {
          s.close();
        } catch {
          // closed already
        }
      }
    },
  };
}
