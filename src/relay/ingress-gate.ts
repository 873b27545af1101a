/**
 * While nobody consumes a relayed room's media (no viewer, WHEP player or cluster edge, no
 * recording), its publisher's RTP is dropped before werift: that path (a STUN parse attempt, ICE,
 * DTLS/SRTP demultiplexing, RTP parse, routing, NACK and statistics) and Node waking JavaScript
 * for each datagram were most of what an unwatched room of a WHIP publisher cost, which unlike the
 * broadcast page cannot be asked to stop sending.
 *
 * Node stops reading the leg's ICE sockets; every DRAIN_MS the native module reads what waits on
 * them in one call (native/fanout.c `drain`). Each RTP packet is still authenticated and decrypted
 * with the leg's own native context (ingress.ts), so its SRTP rollover counter follows the stream
 * across a gap of any length, and only a packet that authenticates counts as received (in the
 * relay's counters, the publisher's rate, werift's receive statistics). Everything else (STUN,
 * DTLS, SRTCP) goes to werift as its socket would have given it: ICE consent, DTLS and the
 * publisher's sender reports keep working. Without the native module there is no gate: werift's
 * own decrypt keeps the rollover counters, and could not follow packets it never sees.
 *
 * While the media is consumed the same reading goes on without the timer (`read`): the native
 * module polls the leg's sockets on this thread's own event loop and, whenever datagrams wait,
 * reads and decrypts them in one call; each RTP packet goes to werift's router as werift's own
 * SRTP receive would hand it on (receivers, NACK generators, statistics and the relay's forwarder
 * unchanged). What that skips per datagram: Node's UDP callback with its Buffer and address, the
 * STUN check, ICE and DTLS demultiplexing and werift's SRTP wrapper. `LANCAST_NATIVE_READ=0`
 * leaves the reading to Node (for side-by-side measurements).
 */
import type { RTCPeerConnection } from 'werift';
import { ingressCounters } from './ingress.js';
import { native, socketFd, takeSocket, watchSocket, type NativeModule } from './native.js';
import { AEAD_AES_128_GCM } from './srtp.js';
import { connectedReceivingSrtp, srtpReceiveChanged, type IceSocket, type ReceivingSrtp } from './werift/index.js';
import { GapTally } from './werift/receive-stats.js';

/** Publisher packets dropped before werift, all legs (each also counted as received). */
export const gateCounters = { packets: 0 };
/** Publisher packets read and decrypted natively and passed on to werift's router, all legs. */
export const readCounters = { packets: 0 };

/**
 * How often the gated legs' sockets are read: 20 wake-ups a second for all of them, where Node
 * woke for each datagram (~120 a second a room). A STUN or SRTCP packet waits as long at most.
 */
const DRAIN_MS = 50;
const RECORD = 5;
/** The packets one drain call describes at most (it is called again while it fills this). */
const records = new Uint32Array(RECORD * 256);

/** The sockets being drained, each by its function; one timer for all. */
const drains = new Set<() => void>();
let timer: NodeJS.Timeout | undefined;

function startDraining(drain: () => void): () => void {
  drains.add(drain);
  if (!timer) {
    timer = setInterval(() => {
      for (const d of drains) d();
    }, DRAIN_MS);
    timer.unref();
  }
  return () => {
    drains.delete(drain);
    if (drains.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

/** A dropped packet, for the publisher's own accounting: its SSRC, marker bit and payload size. */
export type Dropped = (ssrc: number, marker: boolean, bytes: number) => void;

export class IngressGate {
  readonly #pc: RTCPeerConnection;
  readonly #dropped: Dropped;
  /** How to give each socket back to Node; empty while the gate is open. */
  #stops: (() => void)[] = [];
  /** How to stop reading each socket natively and give it back to Node; empty while Node reads. */
  #readers: (() => void)[] = [];
  /** What werift's receive statistics missed while the gate was closed. */
  #tally: GapTally | undefined;

  constructor(pc: RTCPeerConnection, dropped: Dropped) {
    this.#pc = pc;
    this.#dropped = dropped;
  }

  get closed(): boolean {
    return this.#stops.length > 0;
  }

  /** The leg's sockets are read natively and their media passed on (see `read`). */
  get reading(): boolean {
    return this.#readers.length > 0;
  }

  /**
   * Read the leg's sockets natively and pass everything on (the gate stays open). Returns why it
   * cannot, if it cannot: then Node reads them, as before.
   */
  read(env: NodeJS.ProcessEnv = process.env): string | undefined {
    if (this.closed || this.reading) return undefined;
    const module = native;
    if (!module) return 'no native module';
    if (env.LANCAST_NATIVE_READ === '0') return 'LANCAST_NATIVE_READ=0';
    const changed = srtpReceiveChanged();
    if (changed) return changed;
    return this.#takeSockets(this.#readers, () => this.#stopReading(), (session, ingress, { socket, receive }, fd, release) => {
      const tag = session.keys.profile === AEAD_AES_128_GCM ? 16 : 10;
      const deliver = (plain: Buffer, encrypted: number) => session.deliver(plain, encrypted);
      // A socket that broke: Node (werift) has it again. One closed under us stops on its 'close'.
      return watchSocket(module, socket, fd, () => this.#read(module, ingress, fd, tag, receive, deliver), release);
    });
  }

  #read(module: NativeModule, ingress: object, fd: number, tag: number, receive: (data: Buffer, addr: [string, number]) => void, deliver: (plain: Buffer, encrypted: number) => void): void {
    for (;;) {
      const out = module.drain(ingress, fd, records, true);
      const packets = out[0] as number;
      ingressCounters.packets += packets;
      ingressCounters.rejected += out[1] as number;
      readCounters.packets += packets;
      for (let i = 2; i < out.length; i += 3) {
        const data = out[i] as Buffer;
        const address = out[i + 1];
        if (address === null) deliver(data, data.length + tag);
        else receive(data, [address as string, out[i + 2] as number]);
      }
      if (packets * RECORD < records.length) return;
    }
  }

  #stopReading(): void {
    for (const stop of this.#readers.splice(0)) stop();
  }

  /** Drop the publisher's RTP from now on. Returns why it cannot, if it cannot (and then drops nothing). */
  close(): string | undefined {
    if (this.closed) return undefined;
    const wasReading = this.reading;
    this.#stopReading();
    const problem = this.#close();
    if (problem && wasReading) this.read();
    return problem;
  }

  #close(): string | undefined {
    const module = native;
    if (!module) return 'no native module';
    if (connectedReceivingSrtp(this.#pc).length === 0) return 'the leg is not connected';
    const tally = (this.#tally = new GapTally(this.#pc));
    return this.#takeSockets(this.#stops, () => this.open(), (_session, ingress, { socket, receive }, fd) =>
      startDraining(() => {
        // A socket closed meanwhile: its descriptor may be another socket's by now.
        if (socketFd(socket) === fd) this.#drain(module, ingress, fd, tally, receive);
      }),
    );
  }

  /**
   * Takes each socket of the leg's connected SRTP sessions from Node and hands it to `take`, which
   * starts reading it and returns how to stop; `into` gets, per socket, `release`: that stop (once)
   * and the socket given back to Node, which `take`'s reader may also call. Returns why it cannot,
   * after `undo` gave back what was taken.
   */
  #takeSockets(
    into: (() => void)[],
    undo: () => void,
    take: (session: ReceivingSrtp, ingress: object, socket: IceSocket, fd: number, release: () => void) => () => void,
  ): string | undefined {
    const sessions = connectedReceivingSrtp(this.#pc);
    if (sessions.length === 0) return 'the leg is not connected';
    for (const session of sessions) {
      const ingress = session.ingress;
      const sockets = session.sockets();
      const problem = !ingress ? 'werift decrypts this leg: it must see every packet to keep its rollover counters' : typeof sockets === 'string' ? sockets : undefined;
      if (problem) {
        undo();
        return problem;
      }
      for (const iceSocket of sockets as IceSocket[]) {
        const release = takeSocket(iceSocket.socket, (fd, release) => take(session, ingress!, iceSocket, fd, release));
        if (!release) {
          undo();
          return 'a socket of the leg cannot be read outside Node';
        }
        into.push(release);
      }
    }
    return undefined;
  }

  #drain(module: NativeModule, ingress: object, fd: number, tally: GapTally, receive: (data: Buffer, addr: [string, number]) => void): void {
    for (;;) {
      const out = module.drain(ingress, fd, records);
      const packets = out[0] as number;
      ingressCounters.packets += packets;
      ingressCounters.rejected += out[1] as number;
      gateCounters.packets += packets;
      for (let i = 0; i < packets * RECORD; i += RECORD) {
        const ssrc = records[i];
        tally.note(ssrc, records[i + 1], records[i + 2], records[i + 3]);
        this.#dropped(ssrc, records[i + 4] === 1, records[i + 3]);
      }
      for (let i = 2; i < out.length; i += 3) receive(out[i] as Buffer, [out[i + 1] as string, out[i + 2] as number]);
      if (packets * RECORD < records.length) return;
    }
  }

  /** Let every packet through to werift again (read by Node: `read` to read them natively). */
  open(): void {
    this.#stopReading();
    for (const stop of this.#stops.splice(0)) stop();
    this.#tally?.apply();
    this.#tally = undefined;
  }
}
