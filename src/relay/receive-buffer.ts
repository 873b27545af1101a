/**
 * A publisher's leg receives a video frame's packets back to back: an encoder without a pacer
 * (OBS, GStreamer, ffmpeg) sends a keyframe of 100-300 KB at the link's speed, in a few
 * milliseconds, and a relay still fanning out the packets before them reads these late. What the
 * kernel cannot queue meanwhile it drops: Linux's default UDP receive buffer
 * (net.core.rmem_default, 212,992 bytes of kernel memory, about 2.3 KB for each datagram of 1,100
 * bytes) holds 92 such packets, a third of a 720p keyframe. The viewers then wait for the
 * publisher to resend them (a round trip and a burst more), and the publisher's congestion control
 * counts the drops as loss and lowers its bitrate. So each publisher leg's sockets ask for
 * RECEIVE_BUFFER_BYTES, as Fishjam's and MediaMTX's UDP readers do for the same reason. The kernel
 * grants twice the asked size, up to twice net.core.rmem_max (212,992 on a stock kernel: then
 * 416 KiB, 180 such packets); `receiveBufferShortfall` says when it granted less.
 */
import type { Socket } from 'node:dgram';

/** What the kernel charges a queued datagram of 1,100 bytes on this path (measured: 2,304-2,315 bytes). */
const CHARGE_PER_DATAGRAM = 2_304;

/** What each publisher leg's UDP sockets ask for: 2 MiB, 4 MiB of kernel memory, ~1,800 packets of 1,100 bytes. */
export const RECEIVE_BUFFER_BYTES = 2 * 1024 * 1024;

/** The receive buffer a leg got: what the kernel reports for each of its sockets (twice what it granted). */
export interface ReceiveBuffer {
  asked: number;
  /** The smallest of the leg's sockets' buffers, as SO_RCVBUF reads back. */
  got: number;
}

/** Ask for RECEIVE_BUFFER_BYTES on each socket; returns what the kernel gave (undefined: no socket). */
export function enlargeReceiveBuffers(sockets: Iterable<Socket>, asked = RECEIVE_BUFFER_BYTES): ReceiveBuffer | undefined {
  let got: number | undefined;
  for (const socket of sockets) {
    try {
      socket.setRecvBufferSize(asked);
      const size = socket.getRecvBufferSize();
      got = got === undefined ? size : Math.min(got, size);
    } catch {
      // A socket closed meanwhile (the leg is going away): nothing to enlarge.
    }
  }
  return got === undefined ? undefined : { asked, got };
}

/**
 * When the kernel granted less than asked (it reports twice what it grants), what to tell the
 * operator: the limit, and the sysctl that lifts it. Undefined when it granted all.
 */
export function receiveBufferShortfall(buffer: ReceiveBuffer): string | undefined {
  if (buffer.got >= buffer.asked * 2) return undefined;
  const kib = (n: number) => `${Math.round(n / 1024)} KiB`;
  return (
    `the kernel limits UDP receive buffers to ${kib(buffer.got / 2)} (net.core.rmem_max), under the ${kib(buffer.asked)} lancast asks for a publisher's leg: ` +
    `a keyframe of more than about ${Math.floor(buffer.got / CHARGE_PER_DATAGRAM)} packets that arrives while the relay is busy loses its tail; ` +
    `raise it with: sudo sysctl -w net.core.rmem_max=${buffer.asked}`
  );
}
