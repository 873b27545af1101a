/**
 * A lossy UDP path on 127.0.0.1 between a WebRTC client and a server: the client is given the
 * proxy's address as the server's only candidate (rewrite the answer with `candidateIn`) and the
 * server the proxy's other address as the client's (rewrite the offer with `candidateOut`), so
 * neither learns the other's address from a connectivity check and no pair can go round; the
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
  /** An offer whose candidates are replaced by the proxy's server-facing one. */
  candidateOut(offer: string): string;
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
  let client: { address: string; port: number } | undefined;
  let rtp = 0;
  let dropped = 0;
  facingClient.on('message', (msg, from: RemoteInfo) => {
    client = { address: from.address, port: from.port };
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
  const hostCandidate = (sdp: string, what: string) => {
    const found = /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host.*$/m.exec(sdp);
    if (!found) throw new Error(`the ${what} has no UDP host candidate on 127.0.0.1`);
    return { address: '127.0.0.1', port: Number(found[1]) };
  };
  /** Each m-section gets `candidate` in place of its own ones. */
  const replaceCandidates = (sdp: string, candidate: string) =>
    sdp
      .split(/\r?\n/)
      .filter((l) => !l.startsWith('a=candidate:') && !l.startsWith('a=end-of-candidates'))
      .flatMap((l) => (l.startsWith('a=ice-pwd:') ? [l, candidate] : [l]))
      .join('\r\n');
  return {
    dropped: () => dropped,
    resent: () => resent,
    candidateOut(offer) {
      client = hostCandidate(offer, 'offer');
      return replaceCandidates(offer, `a=candidate:2 1 udp 2130706431 127.0.0.1 ${facingServer.address().port} typ host`);
    },
    candidateIn(answer) {
      server = hostCandidate(answer, 'answer');
      const video = /^m=video \d+ \S+ (\d+)/m.exec(answer);
      if (!video) throw new Error('the answer has no video');
      videoPt = Number(video[1]);
      rtxPt = Number(/^a=rtpmap:(\d+) rtx\//m.exec(answer)?.[1] ?? -1);
      return replaceCandidates(answer, `a=candidate:1 1 udp 2130706431 127.0.0.1 ${port} typ host`);
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
