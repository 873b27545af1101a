/**
 * The native addon built from native/fanout.c (see scripts/build.mjs), or the reason it is not in
 * use: then the relay sends through its TypeScript path (egress.ts, srtp.ts), which costs about
 * three times the CPU per packet. `LANCAST_NATIVE=0` chooses the TypeScript path.
 */
import type { Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';

/** Benchmarks only: a profile with no SRTP at all, to split the per-packet cost into its parts. */
export const NO_SRTP_FOR_BENCHMARKS = 0;
/** Benchmarks only: a flag to do everything but the final sendto(). */
export const NO_SEND_FOR_BENCHMARKS = 1;

/** What native/fanout.c exports. */
export interface NativeModule {
  create(fd: number, ip: string, port: number, ssrc: number, pt: number, seqOffset: number, tsOffset: number, profile: number, key: Buffer, salt: Buffer, authKey: Buffer | null, flags?: number): object;
  fanout(list: object[], payload: Uint8Array, marker: boolean, seq: number, ts: number): number;
  sendRaw(e: object, stream: number, payload: Uint8Array, marker: boolean, pt: number, seq: number, ts: number, ssrc: number): number;
  setOffsets(e: object, seqOffset: number, tsOffset: number, pidOffset: number, tl0Offset: number): void;
  stats(e: object): [number, number, number];
  close(e: object): void;
  ingress(profile: number, key: Buffer, salt: Buffer, authKey: Buffer | null): object;
  unprotect(ingress: object, packet: Buffer): Buffer | null;
  ingressStats(ingress: object): [packets: number, rejected: number];
  srtcp(profile: number, inKey: Buffer, inSalt: Buffer, inAuthKey: Buffer | null, outKey: Buffer, outSalt: Buffer, outAuthKey: Buffer | null, lastIndexSent: number): object;
  unprotectRtcp(srtcp: object, packet: Buffer): Buffer | null;
  protectRtcp(srtcp: object, packet: Buffer): Buffer | null;
  srtcpStats(srtcp: object): [packetsIn: number, rejected: number, packetsOut: number, lastIndexSent: number, consentAnswered: number];
  /**
   * From now on drainRtcp answers the consent checks (STUN binding requests) `address`:`port`
   * sends with `username` (our ufrag, ':', theirs) and the role opposite `controlling`, keyed with
   * our ICE `password`; everything else still comes back for werift. With `checks`, checkConsent
   * sends our own checks there (USERNAME `checks.username`: their ufrag, ':', ours; keyed with their
   * `password`) and drainRtcp takes their answers. `consent(srtcp, null)` stops both.
   */
  consent(srtcp: object, username: string | null, password?: string, controlling?: boolean, address?: string, port?: number, ...checks: [username: string, password: string, tieBreaker: bigint, priority: number] | []): void;
  /**
   * Sends a consent check to the far end `consent` named, on socket `fd`; returns whether it was
   * sent, the answers taken so far (before this check) and the last one's round trip in ms.
   */
  checkConsent(srtcp: object, fd: number): [sent: number, answers: number, rttMs: number];
  /** Protects the compound RTCP `packet` with `srtcp` (as protectRtcp) and sends it on socket `fd` to `address`:`port`; whether it went. */
  sendRtcp(srtcp: object, fd: number, address: string, port: number, packet: Buffer): boolean;
  /**
   * Reads what waits on socket `fd` without blocking: RTP is authenticated, decrypted and described
   * in `records` (ssrc, seq, header length, payload length, marker: 5 numbers a packet); returns
   * [RTP packets described, RTP packets rejected, then datagram, address, port of everything else].
   */
  drain(ingress: object, fd: number, records: Uint32Array): (number | Buffer | string)[];
  /**
   * Reads what waits on a viewer leg's socket `fd` without blocking: each SRTCP datagram is opened
   * with `srtcp` and its reports and feedback described in `records` (8 numbers each, see
   * rtcp-intake.ts), a consent check it was told of (`consent`) is answered and the answer to our
   * own (`checkConsent`) taken; returns [records, SRTCP
   * datagrams, their bytes, those rejected, consent checks answered, then datagram, address, port of
   * everything else]. What the leg's watcher queued (`watch` with `srtcp`) comes first; with
   * `queuedOnly`, only that.
   */
  drainRtcp(srtcp: object, fd: number, records: Float64Array, queuedOnly?: boolean): (number | Buffer | string)[];
  /** Viewer legs of this thread whose watcher queued RTCP that drainRtcp has not taken yet. */
  rtcpWaiting(): number;
  /**
   * From now on the watcher of a socket of `ingress` sends every RTP packet of `ssrc` it reads to
   * these egresses at once (null: it no longer does), and queues it for `take`.
   */
  route(ingress: object, ssrc: number, egresses: object[] | null): void;
  /**
   * What the watcher queued, then what waits on socket `fd` (read the same way), at most
   * `ages.length` datagrams in arrival order: [datagrams, rejected, forwarded, the RTP packets
   * (plain, one after the other in one buffer, or null), then (where the packet ends in that
   * buffer, null, viewers it went to or -1 when not routed) for each RTP packet, or (datagram,
   * address, port) for anything else]; each RTP packet starts where the one before ended. `ages`
   * gets how long ago each arrived (ms); `rejected` and `forwarded` since the last take.
   */
  take(ingress: object, fd: number, ages: Float64Array): (number | Buffer | string | null)[];
  /**
   * Calls `ready(ok)` on this thread whenever datagrams wait on socket `fd` (ok false: the socket
   * broke), until unwatch. With a publisher leg's `ingress` and routes on it (`route`), the
   * watcher reads the socket itself, forwards what is routed, and calls `ready(true)` only when
   * its queue needs JavaScript; with a viewer leg's `srtcp`, it reads the socket itself, answers
   * consent checks, and calls `ready(true)` only for feedback that cannot wait (see native/fanout.c).
   */
  watch(fd: number, ready: (ok: boolean) => void, context?: object): object;
  unwatch(watcher: object): void;
  /**
   * From now on this thread's watchers that read for themselves (viewer legs, and publisher legs
   * with a routed stream) are polled by one native thread, which wakes this thread's event loop
   * only when JavaScript is needed; true when this thread has it (only the first to ask does).
   */
  relayThread(): boolean;
  /** The relay thread's turns with something to read, and its calls for JavaScript, since it started. */
  relayThreadStats(): [wakeups: number, calls: number];
}

/** The project's root: the nearest folder above this module with a package.json. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Where the build puts the addon. */
export const NATIVE_FILE = join(projectRoot(), 'dist', 'native', 'lancast.node');

/** Load the addon from `file` unless `env` opts out; otherwise say why not. */
export function loadNative(env: NodeJS.ProcessEnv = process.env, file = NATIVE_FILE): { module: NativeModule | undefined; reason: string } {
  if (env.LANCAST_NATIVE === '0') return { module: undefined, reason: 'LANCAST_NATIVE=0' };
  if (!existsSync(file)) return { module: undefined, reason: `${file} was not built (no C compiler or Node headers at build time)` };
  try {
    return { module: createRequire(import.meta.url)(file) as NativeModule, reason: '' };
  } catch (err) {
    return { module: undefined, reason: (err as Error).message };
  }
}

const loaded = loadNative();
/** The native module, when it was built and loads; the egress and the ingress use it. */
export const native = loaded.module;

/**
 * Whether the main thread's legs are read by the native relay thread (native/fanout.c, "The relay
 * thread"): a small room's packets then no longer wake Node's event loop one by one.
 * `LANCAST_RELAY_THREAD=0` keeps them on the event loop (for side-by-side measurements).
 */
export const relayThread = Boolean(native && isMainThread && process.env.LANCAST_RELAY_THREAD !== '0' && native.relayThread());

/** The relay thread's counts (zero without it): its turns with something read, and how often it woke Node's loop for JavaScript. */
export function relayThreadCounts(): { wakeups: number; calls: number } {
  const [wakeups, calls] = relayThread && native ? native.relayThreadStats() : [0, 0];
  return { wakeups, calls };
}

/** Which forwarding path this process uses, for the logs, /metrics and the benchmarks. */
export const egressImplementation: { name: 'native' | 'typescript'; reason: string } = native
  ? { name: 'native', reason: '' }
  : { name: 'typescript', reason: loaded.reason };

interface UdpHandle {
  fd?: number;
  recvStart?: () => number;
  recvStop?: () => number;
}

/** The key of a dgram socket's state: one symbol of node:dgram's for every socket, found once (listing a socket's keys is slow). */
let stateSymbol: symbol | undefined;

/** The libuv handle under a bound dgram socket (Node keeps it in a symbol-keyed state); none once closed. */
function udpHandle(socket: Socket): UdpHandle | undefined {
  stateSymbol ??= Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  return stateSymbol ? (socket as unknown as Record<symbol, { handle?: UdpHandle | null } | undefined>)[stateSymbol]?.handle ?? undefined : undefined;
}

/** The file descriptor under a bound dgram socket. */
export function socketFd(socket: Socket): number | undefined {
  const fd = udpHandle(socket)?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Stop Node reading a bound dgram socket (datagrams wait in the kernel for whoever reads the file
 * descriptor); returns how to let Node read it again, or undefined when it cannot be stopped.
 */
export function pauseReading(socket: Socket): (() => void) | undefined {
  const handle = udpHandle(socket);
  if (typeof handle?.recvStop !== 'function' || typeof handle.recvStart !== 'function' || handle.recvStop() !== 0) return undefined;
  return () => {
    // A socket closed meanwhile has no handle left to start.
    if (udpHandle(socket) === handle) handle.recvStart!();
  };
}

/**
 * Takes a bound socket from Node for `read`, which starts reading it (by `fd`) and returns how to
 * stop. Returns `release`: stop once and give the socket back to Node, which `read`'s reader may
 * call too; undefined when Node's reading cannot be stopped (then nothing was taken).
 */
export function takeSocket(socket: Socket, read: (fd: number, release: () => void) => () => void): (() => void) | undefined {
  const fd = socketFd(socket);
  const resume = fd === undefined ? undefined : pauseReading(socket);
  if (fd === undefined || !resume) return undefined;
  let stop: (() => void) | undefined;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    stop?.();
    resume();
  };
  stop = read(fd, release);
  return release;
}

/**
 * Calls `readable()` on this thread whenever datagrams wait on `socket` (polled natively by `fd`;
 * with a `context`, when what the native module queued needs JavaScript: `watch`), and `broken()`
 * when it breaks or closes; returns how to stop.
 */
export function watchSocket(module: NativeModule, socket: Socket, fd: number, readable: () => void, broken: () => void, context?: object): () => void {
  const watcher = module.watch(fd, (ok) => (ok ? readable() : broken()), context);
  socket.once('close', broken);
  return () => {
    socket.off('close', broken);
    module.unwatch(watcher);
  };
}
