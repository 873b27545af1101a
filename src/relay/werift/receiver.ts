/**
 * Typed view of the SRTP sessions werift decrypts a publisher's media with, so the relay can put
 * native decryption in their place (../ingress.ts) and drop media before werift while nobody
 * watches (../ingress-gate.ts). The one place lancast reads them.
 */
import { RTCDtlsTransport, RTCRtpReceiver, RtpPacket, type RTCPeerConnection } from 'werift';
import type { SrtpKeys } from '../srtp.js';
import { replacements } from './patch.js';
import { receiveOrdinary, type Receiver, type Track } from './lean-rtp-receive.js';
import type { WeriftEvent } from './lean-events.js';
import { iceSockets, type IceSocket, type WeriftIceAgent } from './ice-sockets.js';

interface WeriftSrtpSession {
  decrypt: (packet: Buffer) => Buffer;
  remoteContext?: { profile: number; srtpSessionKey: Buffer; srtpSessionSalt: Buffer; srtpSessionAuthTag: Buffer };
  lancastDecrypt?: (packet: Buffer) => Buffer;
  lancastIngress?: object;
}
interface WeriftDtlsTransport {
  state: string;
  srtp?: WeriftSrtpSession;
  iceTransport: { connection: WeriftIceAgent };
  bytesReceived: number;
  packetsReceived: number;
  onRtp: WeriftEvent;
}

/** werift's RtpRouter, the parts a routed packet's way reads. */
interface WeriftRouter {
  ssrcTable: Record<number, unknown>;
  ridTable: Record<string, unknown>;
  routeRtp: (packet: RtpPacket) => void;
}

/**
 * What werift's router does with an RTP packet (RtpRouter.routeRtp, an arrow function per
 * router): parse its header extensions, find the receiver by SSRC unless a RID names another, hand
 * the packet to it, and note the MID and repaired RID it carries. `deliverRouted` skips all but
 * the SSRC's receiver, which is all of it for a connection without simulcast (no RID table) whose
 * receiver has its MID from the stream's first packets.
 */
const ROUTE_RTP = [
  /^\(packet\) => \{\s*const extensions = rtpHeaderExtensionsParser\(\s*packet\.header\.extensions,\s*this\.extIdUriMap\s*\);\s*let rtpReceiver = this\.ssrcTable\[packet\.header\.ssrc\];\s*const rid = extensions\[RTP_EXTENSION_URI\.sdesRTPStreamID\];\s*if \(typeof rid === "string"\) \{/,
  /\} else if \(rtpReceiver\) \{\s*rtpReceiver\.handleRtpBySsrc\(packet, extensions\);\s*\} else \{/,
  /const sdesMid = extensions\[RTP_EXTENSION_URI\.sdesMid\];\s*if \(typeof sdesMid === "string"\) \{\s*rtpReceiver\.sdesMid = sdesMid;\s*\}\s*const repairedRid = extensions\[RTP_EXTENSION_URI\.repairedRtpStreamId\];\s*if \(typeof repairedRid === "string"\) \{\s*rtpReceiver\.latestRepairedRid = repairedRid;\s*\}\s*\}$/,
];
/** handleRtpBySsrc, which `deliverRouted` does in place: the track by SSRC, then handleRTP. */
const HANDLE_BY_SSRC = /^\(packet, extensions\) => \{\s*const track = this\.trackBySSRC\[packet\.header\.ssrc\];\s*this\.handleRTP\(packet, extensions, track\);\s*\}$/;

/** Packets of routed streams handed straight to their receiver (`deliverRouted`), and those that went werift's whole way. */
export const routedReceiveCounters = { direct: 0, router: 0 };

/** The track subscribers see no header extensions on a routed packet (none reads them). */
const NO_EXTENSIONS: Record<string, unknown> = Object.freeze({});

/** Whether `router` and its receivers are werift's as `deliverRouted` repeats them (checked per router, once). */
const routersChecked = new WeakMap<object, boolean>();
function routerFits(router: WeriftRouter, receiver: { handleRtpBySsrc?: unknown }): boolean {
  let fits = routersChecked.get(router);
  if (fits === undefined) {
    const source = String(router.routeRtp);
    fits =
      ROUTE_RTP.every((re) => re.test(source)) &&
      HANDLE_BY_SSRC.test(String(receiver.handleRtpBySsrc)) &&
      replacements.some((r) => r.patch === 'lean-rtp-receive');
    routersChecked.set(router, fits);
  }
  return fits;
}

/**
 * What werift's DTLS transport does with an SRTP packet once decrypted (startSrtp), which
 * `deliver` repeats for packets the relay reads and decrypts itself (../ingress-gate.ts): count
 * it, parse it, hand it to the transport's onRtp (werift's router, receivers and NACK generators).
 */
const SRTP_RECEIVE = [
  /this\.bytesReceived \+= data\.length;\s*this\.packetsReceived\+\+;/,
  /dec = this\.srtp\.decrypt\(data\);/,
  /rtp = RtpPacket\.deSerialize\(dec\);/,
  /this\.onRtp\.execute\(rtp\);/,
];
let srtpReceiveFits: string | undefined | null = null;

/**
 * Which of `steps` werift's own RTCDtlsTransport.startSrtp (under any patch that wraps it:
 * lean-events.ts does) no longer contains, as a reason; undefined when it contains them all.
 */
export function startSrtpLacks(steps: RegExp[]): string | undefined {
  const werifts = replacements.find((r) => r.target === 'RTCDtlsTransport.prototype.startSrtp')?.original;
  const source = String(werifts ?? (RTCDtlsTransport.prototype as unknown as Record<string, unknown>).startSrtp);
  const missing = steps.filter((re) => !re.test(source));
  return missing.length ? `werift's RTCDtlsTransport.startSrtp no longer contains ${missing.join(', ')}` : undefined;
}

/** Why werift's receive path is not the one `deliver` repeats (undefined: it is); checked once. */
export function srtpReceiveChanged(): string | undefined {
  if (srtpReceiveFits === null) srtpReceiveFits = startSrtpLacks(SRTP_RECEIVE);
  return srtpReceiveFits;
}

/** One connected receiving SRTP session: its keys, and whether lancast already decrypts for it. */
export interface ReceivingSrtp {
  keys: SrtpKeys;
  replaced: boolean;
  /** From now on werift's SRTP session decrypts with `decrypt` (which throws to drop a packet), through the native context `ingress`. */
  replaceDecrypt(decrypt: (packet: Buffer) => Buffer, ingress: object): void;
  /** The native context lancast decrypts with (undefined: werift decrypts), with the session's rollover counters. */
  readonly ingress: object | undefined;
  /** The transport's ICE sockets, or why they cannot be read outside werift. */
  sockets(): IceSocket[] | string;
  /** A packet decrypted outside werift (`encrypted` bytes on the wire), taken on as werift takes one it decrypted. */
  deliver(plain: Buffer, encrypted: number): void;
  /**
   * The same for a packet of a routed stream (../ingress-gate.ts), which the relay already sent
   * on and which nothing else will hold: straight to its SSRC's receiver (statistics, NACK
   * generator, track), without the router's header extension parse, the transport's and the
   * router's events, or the copy werift makes for the track. Anything that way cannot take
   * (simulcast on the connection, no receiver or track for the SSRC yet, RTX, RED, a werift of
   * another shape) goes werift's whole way, as `deliver`.
   */
  deliverRouted(plain: Buffer, encrypted: number): void;
}

/** The receiving SRTP sessions of `pc` whose DTLS is connected, or was when lancast took over their decryption (one per transport). */
export function connectedReceivingSrtp(pc: RTCPeerConnection): ReceivingSrtp[] {
  const transports = new Set(pc.getTransceivers().map((t) => t.receiver.dtlsTransport as unknown as WeriftDtlsTransport | undefined));
  const router = (pc as unknown as { router: WeriftRouter }).router;
  const out: ReceivingSrtp[] = [];
  for (const dtls of transports) {
    const session = dtls?.srtp;
    const ctx = session?.remoteContext;
    if (!dtls || !session || !ctx) continue;
    // What werift's startSrtp does with a decrypted packet: count it, parse it, hand it on.
    const parse = (plain: Buffer, encrypted: number): RtpPacket | undefined => {
      dtls.bytesReceived += encrypted;
      dtls.packetsReceived++;
      try {
        return RtpPacket.deSerialize(plain);
      } catch {
        return undefined; // werift drops a malformed packet too
      }
    };
    const route = (rtp: RtpPacket): void => {
      try {
        dtls.onRtp.execute(rtp);
      } catch {
        // werift logs a subscriber's error here and goes on
      }
    };
    // The router's way for a packet of a connection without simulcast: its SSRC's receiver, as
    // handleRtpBySsrc hands it on (false: the router must take it). The transport's only
    // subscriber must be the router, with nothing queued, as werift's createTransport leaves it.
    const direct = (rtp: RtpPacket): boolean => {
      const ssrc = rtp.header.ssrc;
      const found = router.ssrcTable[ssrc];
      if (!(found instanceof RTCRtpReceiver)) return false;
      const receiver = found as unknown as Receiver & { trackBySSRC: Record<number, Track | undefined> };
      if (receiver.stopped) return false;
      const track = receiver.trackBySSRC[ssrc];
      if (!track || dtls.onRtp.ended || dtls.onRtp.event.stack.length !== 1 || dtls.onRtp.event.promiseStack.length !== 0) return false;
      for (const _ in router.ridTable) return false;
      return routerFits(router, receiver as { handleRtpBySsrc?: unknown }) && receiveOrdinary(receiver, rtp, NO_EXTENSIONS, track, false);
    };
    // werift marks the transport failed on a malformed DTLS record from anyone (a stray datagram
    // to the leg's port) while its SRTP goes on: a leg already decrypted natively stays usable.
    if (dtls.state !== 'connected' && session.lancastIngress === undefined) continue;
    out.push({
      keys: { profile: ctx.profile, key: ctx.srtpSessionKey, salt: ctx.srtpSessionSalt, authKey: ctx.srtpSessionAuthTag },
      replaced: session.lancastDecrypt !== undefined,
      replaceDecrypt(decrypt, ingress) {
        session.lancastDecrypt = decrypt;
        session.lancastIngress = ingress;
        session.decrypt = decrypt;
      },
      ingress: session.lancastIngress,
      sockets: () => iceSockets(dtls.iceTransport.connection),
      deliver(plain, encrypted) {
        const rtp = parse(plain, encrypted);
        if (rtp) route(rtp);
      },
      deliverRouted(plain, encrypted) {
        const rtp = parse(plain, encrypted);
        if (!rtp) return;
        try {
          if (direct(rtp)) routedReceiveCounters.direct++;
          else {
            routedReceiveCounters.router++;
            route(rtp);
          }
        } catch {
          // werift logs a subscriber's error here and goes on
        }
      },
    });
  }
  return out;
}
