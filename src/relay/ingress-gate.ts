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
 *
 * A stream can also be routed (`route`: its SSRC and the native egresses of all its viewers):
 * then the native module sends each of its packets to them as it reads it, without waking
 * JavaScript, and keeps the packet; JavaScript takes what was kept at most every 250 ms (or at
 * once for anything not routed, a gap, or a full queue) and hands it on as above (straight to its
 * receiver: werift/receiver.ts `deliverRouted`), marked as sent
 * (`delivering`: to how many viewers, and how long ago it arrived), so that history, statistics
 * and reports see every packet as before and nothing is sent twice. `sync` takes it now: whoever
 * changes the viewers or reads the history first. A small room thus wakes JavaScript four times a
 * second rather than once per frame (docs/performance.md). `LANCAST_NATIVE_ROUTE=0` keeps every
 * packet in JavaScript.
 */
import type { RTCPeerConnection } from 'werift';
import { ingressCounters } from './ingress.js';
import { native, socketFd, takeSocket, watchSocket, type NativeModule } from './native.js';
import { AEAD_AES_128_GCM } from './srtp.js';
import { connectedReceivingSrtp, srtpReceiveChanged, type IceSocket, type ReceivingSrtp } from './werift/index.js';
import { flushRtcp } from './rtcp-intake.js';
import { runDue } from './batched-timers.js';
import { arrival } from './werift/lean-receive-stats.js';
import { GapTally } from './werift/receive-stats.js';

/** Publisher packets dropped before werift, all legs (each also counted as received). */
export const gateCounters = { packets: 0 };
/**
 * Publisher packets read and decrypted natively and passed on to werift's router, all legs; of
 * them, those forwarded natively as they arrived (`routed`), and how many times JavaScript took
 * what waited (`takes`).
 */
export const readCounters = { packets: 0, routed: 0, takes: 0 };

/**
 * How often the gated legs' sockets are read: 10 wake-ups a second for all of them, where Node
 * woke for each datagram (~120 a second a room); the periodic jobs ride on them (batched-timers.ts).
 * A STUN or SRTCP packet waits as long at most. 100 ms of a 2.5 Mbit/s stream is ~25 datagrams,
 * a tenth of what a publisher leg's receive buffer holds even on a stock kernel (receive-buffer.ts).
 */
const DRAIN_MS = 100;
const RECORD = 5;
/** The packets one drain call describes at most (it is called again while it fills this). */
const records = new Uint32Array(RECORD * 256);
/** How long ago each datagram one take returns arrived; as long as the native queue (64). */
const ages = new Float64Array(64);

/** A packet being handed on that the native module already sent: to how many viewers, and how long ago it arrived. */
export interface Delivering {
  sent: number;
  ageMs: number;
}

/** The sockets being drained, each by its function; one timer for all. */
const drains = new Set<() => void>();
let timer: NodeJS.Timeout | undefined;

function startDraining(drain: () => void): () => void {
  drains.add(drain);
  if (!timer) {
    timer = setInterval(() => {
      for (const d of drains) d();
      // The periodic work that is due rides on this wake too (batched-timers.ts).
      runDue();
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
  /** How to take, per socket, what the native module queued (while reading). */
  #takes: (() => void)[] = [];
  /** The native contexts of the leg's sessions (while reading), and each SSRC routed on them with its egresses. */
  #ingresses = new Set<object>();
  readonly #routed = new Map<number, object[]>();
  #taking = false;
  /** Set while a packet the native module already sent is handed on (see Delivering). */
  delivering: Delivering | undefined;

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
      const take = () => {
        // A socket closed meanwhile: its descriptor may be another socket's by now.
        if (socketFd(socket) === fd) this.#take(module, ingress, fd, tag, receive, session);
      };
      this.#takes.push(take);
      this.#ingresses.add(ingress);
      // A socket that broke: Node (werift) has it again. One closed under us stops on its 'close'.
      return watchSocket(module, socket, fd, take, release, ingress);
    });
  }

  #take(module: NativeModule, ingress: object, fd: number, tag: number, receive: (data: Buffer, addr: [string, number]) => void, session: ReceivingSrtp): void {
    // Handing a packet on can change the viewers, which takes first (sync): what is taken is being handed on.
    if (this.#taking) return;
    this.#taking = true;
    try {
      for (;;) {
        const out = module.take(ingress, fd, ages);
        const count = out[0] as number;
        readCounters.takes++;
        ingressCounters.rejected += out[1] as number;
        readCounters.routed += out[2] as number;
        const now = Date.now();
        // The RTP packets, one after the other in one buffer: each a view of its part.
        const rtp = out[3] as Buffer | null;
        let start = 0;
        for (let i = 4, k = 0; i < out.length; i += 3, k++) {
          const address = out[i + 1];
          if (address !== null) {
            receive(out[i] as Buffer, [address as string, out[i + 2] as number]);
            continue;
          }
          const end = out[i] as number;
          const data = rtp!.subarray(start, end);
          start = end;
          ingressCounters.packets++;
          readCounters.packets++;
          const sent = out[i + 2] as number;
          const ageMs = ages[k];
          this.delivering = sent >= 0 ? { sent, ageMs } : undefined;
          arrival.seconds = ageMs > 1 ? (now - ageMs) / 1e3 : undefined;
          try {
            // A routed packet goes straight to its receiver (receiver.ts `deliverRouted`).
            if (sent >= 0) session.deliverRouted(data, data.length + tag);
            else session.deliver(data, data.length + tag);
          } finally {
            this.delivering = undefined;
            arrival.seconds = undefined;
          }
        }
        if (count < ages.length) break;
      }
      // The viewers' reports that waited for JavaScript to come: it is here (rtcp-intake.ts); and
      // the periodic work that is due (batched-timers.ts).
      flushRtcp();
      runDue();
    } finally {
      this.#taking = false;
    }
  }

  /** Hand on now what the native module forwarded and kept (see the top of this file). */
  sync(): void {
    for (const take of this.#takes) take();
  }

  /**
   * Send every RTP packet of `ssrc` to these native egresses as it is read, JavaScript taking the
   * packets later (null: JavaScript forwards them as they come). Only while reading; false when
   * it cannot.
   */
  route(ssrc: number, egresses: object[] | null, env: NodeJS.ProcessEnv = process.env): boolean {
    const module = native;
    if (!module || (egresses && (!this.reading || env.LANCAST_NATIVE_ROUTE === '0'))) return false;
    this.sync();
    for (const ingress of this.#ingresses) module.route(ingress, ssrc, egresses);
    if (egresses) this.#routed.set(ssrc, egresses);
    else this.#routed.delete(ssrc);
    return true;
  }

  /** The egresses a stream is routed to natively (route); undefined when it is not. */
  routed(ssrc: number): object[] | undefined {
    return this.#routed.get(ssrc);
  }

  #stopReading(): void {
    // What was forwarded natively is handed on first; then nothing is routed.
    this.sync();
    for (const ssrc of this.#routed.keys()) this.route(ssrc, null);
    for (const stop of this.#readers.splice(0)) stop();
    this.#takes = [];
    this.#ingresses.clear();
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
