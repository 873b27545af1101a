/**
 * What a small room costs, as browsers load it: the real server, one WHIP publisher (libwebrtc in
 * Node, ~110 packets a second of VP8 + Opus) and N libwebrtc WHEP viewers (child processes), which send what a
 * browser sends (receiver reports, REMB, NACKs on loss, consent checks). The room grows through
 * 0 (broadcasting, watched by nobody), 5, 10, 20 and 40 viewers; at each size the whole server
 * process's CPU (/proc/<pid>/stat, 100 % = one core), its main thread's, and the packets the
 * viewers received over a steady window. The marginal cost is the CPU added per packet added
 * between one size and the next. Each server layout (relay worker threads) is one row group.
 * A last group grows the same room with the load generator's viewers (generator-crowd.ts) to 100
 * and 300, sizes libwebrtc viewers cannot reach on this machine.
 */
import { readFileSync } from 'node:fs';
import { metricValue, startLancast, type Lancast } from '../test/helpers/server.js';
import { cpuSeconds, sleep, treeCpuSeconds } from './lib.js';
import { GeneratorCrowd } from './generator-crowd.js';
import { JsonChild } from './relay/wrtc-child.js';

export interface RoomRow {
  server: string;
  viewers: number;
  /** Whole process, % of one core. */
  serverCpuPercent: number;
  mainThreadCpuPercent: number;
  publisherPacketsPerSecond: number;
  /** RTP packets the server sent to viewers per second (compare with delivered). */
  sentPerSecond: number;
  /** Legs the server closed so far, and why. */
  closedLegs: string;
  /** Viewers that received packets during the window (a loaded machine can lose a few). */
  receiving: number;
  /** RTP packets the viewers received per second, all viewers together. */
  deliveredPerSecond: number;
  /** Whole-process CPU over delivered packets (µs); '-' with no viewers. */
  usPerDeliveredPacket: number | '-';
  /** CPU added per packet added since the previous size (µs). */
  marginalUsPerPacket: number | '-';
  windowS: number;
}

/** A server under test with a live room: what the bench needs of lancast (or another SFU). */
export interface RoomTarget {
  name: string;
  pid: number;
  /** RTP packets the server has received from the publisher so far (or NaN). */
  publisherPackets(): Promise<number>;
  /** RTP packets the server has sent to viewers so far (or NaN). */
  sentPackets(): Promise<number>;
  /** Why viewers' legs closed so far, most frequent first (the server's own word). */
  closedLegs(): string;
  /** The room's viewers. */
  crowd: Crowd;
  stop(): Promise<void>;
}

function threadCpuSeconds(pid: number, tid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * 320x240, half of it fresh noise: about 60 video packets a second beside Opus's 50, what the
 * issue's browser publisher sent, and cheap for 40 viewers in one process to decode.
 */
export const PUBLISHER = { width: 320, height: 240, noise: true };

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Viewers in child processes of at most this many each. */
const VIEWERS_PER_PROCESS = 10;

/** A room's viewers, however they are made. */
export interface Crowd {
  readonly size: number;
  /** Up to `to` viewers, all connected (or an error). */
  grow(to: number): Promise<void>;
  /** Each viewer's RTP packets received so far, and when they were counted (ms since the epoch). */
  counts(): Promise<{ at: number; counts: number[] }>;
  stop(): Promise<void>;
}

/**
 * A room's viewers spread over helper processes: a group of viewers that the machine starves
 * cannot take the others (or the measuring process) down with it.
 */
export class ProcessCrowd implements Crowd {
  readonly #spawn: () => JsonChild;
  readonly #joined: (reply: unknown) => Promise<void>;
  readonly #children: { child: JsonChild; viewers: number }[] = [];

  /**
   * Viewers in helper processes made by `spawn`, VIEWERS_PER_PROCESS to each, that answer
   * `{"add": 1}`, `{"count": true}` and `{"stop": true}`; `joined` is told each add's reply.
   */
  constructor(spawn: () => JsonChild, joined: (reply: unknown) => Promise<void> = async () => undefined) {
    this.#spawn = spawn;
    this.#joined = joined;
  }

  get size(): number {
    return this.#children.reduce((n, c) => n + c.viewers, 0);
  }

  /** One more viewer, in a process with room for it. */
  async add(): Promise<void> {
    let slot = this.#children.find((c) => c.viewers < VIEWERS_PER_PROCESS);
    if (!slot) {
      slot = { child: this.#spawn(), viewers: 0 };
      this.#children.push(slot);
    }
    await this.#joined(await slot.child.ask({ add: 1 }));
    slot.viewers++;
  }

  async grow(to: number): Promise<void> {
    while (this.size < to) await this.add();
  }

  async counts(): Promise<{ at: number; counts: number[] }> {
    const all = await Promise.all(this.#children.map((c) => c.child.ask<{ counts: number[] }>({ count: true })));
    return { at: Date.now(), counts: all.flatMap((r) => r.counts) };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#children.splice(0).map(async ({ child }) => {
        await Promise.race([child.ask({ stop: true }).catch(() => undefined), sleep(5_000)]);
        await child.kill();
      }),
    );
  }
}

/**
 * libwebrtc viewers of lancast's `<base>/whep/<room>` (or of a Janus mountpoint: bench/relay/
 * wrtc-viewers.ts). `env` is their processes' (e.g. LD_PRELOAD of the loopback shim).
 */
export class ViewerCrowd extends ProcessCrowd {
  constructor(server: 'whep' | 'janus', base: string, room: string, env: NodeJS.ProcessEnv = {}) {
    super(() => new JsonChild('./wrtc-viewers.ts', [server, base, room], env));
  }
}

/**
 * The kernel's floor under a room (bench/relay/floor-sender.ts): the publisher's packets sent to N
 * receivers (floor-sinks.ts, VIEWERS_PER_PROCESS to a process, reading as a viewer process's network
 * thread does) through lancast's native fan-out and nothing else. Measured as a room is, it says what
 * any SFU pays on this machine per packet to a viewer before doing any of its own work.
 */
export function floorRoom(name = 'kernel floor: the same packets, native SRTP + sendto only'): RoomTarget & { sending(): Promise<{ packets: number; sent: number }> } {
  const sender = new JsonChild('./floor-sender.ts', []);
  // Each receiver's port goes to the sender as it is bound.
  const crowd = new ProcessCrowd(() => new JsonChild('./floor-sinks.ts', []), async (reply) => {
    await sender.ask({ add: (reply as { ports: number[] }).ports });
  });
  const counts = async () => await sender.ask<{ packets: number; sent: number }>({ count: true });
  return {
    name,
    pid: sender.proc.pid!,
    publisherPackets: async () => (await counts()).packets,
    sentPackets: async () => (await counts()).sent,
    closedLegs: () => '',
    crowd,
    /** Packets made and packet copies sent, read together. */
    sending: counts,
    async stop() {
      await crowd.stop();
      await sender.kill();
    },
  };
}

/** How a room's publisher starts: a process that prints `{"status": <WHIP status>}` once publishing. */
export type Publish = (whipUrl: string, key: string) => JsonChild;

/** The libwebrtc publisher (bench/relay/publisher.ts) at PUBLISHER's size. */
const libwebrtcPublisher: Publish = (whipUrl, key) => {
  const { origin, pathname } = new URL(whipUrl);
  return new JsonChild('./publisher.ts', [origin, pathname.split('/').pop()!, key, String(PUBLISHER.width), String(PUBLISHER.height)]);
};

export interface LancastRoomOptions {
  /** The room's publisher (the libwebrtc one unless told). */
  publish?: Publish;
  /** The viewers' processes' environment. */
  viewerEnv?: NodeJS.ProcessEnv;
  /** Other viewers than libwebrtc ones (the load generator's). */
  crowd?: (base: string, room: string) => Crowd;
}

/** lancast with one WHIP publisher (its own process) in room `bench`. */
export async function lancastRoom(name: string, args: string[], nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}, options: LancastRoomOptions = {}): Promise<RoomTarget> {
  const server: Lancast = await startLancast({ args: ['--log-level', 'info', '--pause-after', '0', ...args], nodeArgs, env });
  const publisher = (options.publish ?? libwebrtcPublisher)(`${server.url}/whip/bench`, server.publishKey);
  try {
    const { status } = await publisher.next<{ status: number }>();
    if (status !== 201) throw new Error(`WHIP publish failed: ${status} ${publisher.stderr.slice(-300)}`);
  } catch (err) {
    await publisher.kill();
    await server.stop();
    throw err;
  }
  let stopping = false;
  publisher.proc.once('exit', (code, signal) => {
    if (!stopping) failures.push(`${name}: the publisher's process ended (${signal ?? code}): ${publisher.stderr.slice(-300)}`);
  });
  const crowd = options.crowd?.(server.url, 'bench') ?? new ViewerCrowd('whep', server.url, 'bench', options.viewerEnv);
  return {
    name,
    pid: server.proc.pid!,
    async publisherPackets() {
      return (await metricValue(server.url, 'lancast_relay_packets_received_total')) ?? NaN;
    },
    async sentPackets() {
      return (await metricValue(server.url, 'lancast_relay_packets_forwarded_total')) ?? NaN;
    },
    closedLegs() {
      const why = new Map<string, number>();
      for (const m of server.output().matchAll(/"why":"([^"]*)","msg":"relay viewer leg closed"/g)) why.set(m[1], (why.get(m[1]) ?? 0) + 1);
      return [...why].sort((a, b) => b[1] - a[1]).map(([w, n]) => `${n}: ${w}`).join('; ');
    },
    crowd,
    async stop() {
      stopping = true;
      await crowd.stop();
      await publisher.kill();
      await server.stop();
    },
  };
}

/**
 * How long a room runs at each size before it is measured. For about a minute after viewers join,
 * V8 is still compiling their legs' code and collecting what the joins left, on the main thread
 * and its own threads, which a room that runs for an hour pays once. The rooms are measured as
 * they run once settled; docs/performance.md ("Rooms settle for a minute") has the series that
 * set this.
 */
const SETTLE_S = 60;

/** Grow a room through `sizes`, measuring `windowS` seconds at each after `settleS`. */
export async function measureRoom(target: RoomTarget, sizes: number[], windowS = 10, settleS = SETTLE_S): Promise<RoomRow[]> {
  const rows: RoomRow[] = [];
  let previous: { cpu: number; delivered: number } | undefined;
  for (const size of sizes) {
    try {
      await target.crowd.grow(size);
    } catch (err) {
      // The room ended under the load (its publisher's leg failed): say so and stop growing it.
      process.stderr.write(`  rooms: ${target.name} at ${size} viewers: ${(err as Error).message}; legs closed: ${target.closedLegs()}\n`);
      failures.push(`${target.name}, ${size} viewers: ${(err as Error).message.trim()}; legs closed: ${target.closedLegs() || "none"}`);
      break;
    }
    await allReceiving(target.crowd);
    // The unwatched room is the first step, seconds after the server started, which settles the
    // same way (2.3-2.6 % of a core in a 10 s window 5 s after start, 0.7-1.0 % 20 s later).
    await sleep(settleS * 1000);
    const counts = () => target.crowd.counts();
    const generators = () => treeCpuSeconds(process.pid) - cpuSeconds(target.pid);
    // The server's counters are read through its /metrics (about 6 ms of its CPU each time), outside
    // the CPU window: Janus is not asked, and a scrape is the monitoring's cost, not the room's.
    const scrape = async () => ({ published: await target.publisherPackets(), sent: await target.sentPackets(), at: performance.now() });
    const k0 = await scrape();
    const b0 = generators();
    const [c0, m0, r0, t0] = [cpuSeconds(target.pid), threadCpuSeconds(target.pid, target.pid), await counts(), performance.now()];
    await sleep(windowS * 1000);
    const [c1, m1, r1, t1] = [cpuSeconds(target.pid), threadCpuSeconds(target.pid, target.pid), await counts(), performance.now()];
    const k1 = await scrape();
    const seconds = (t1 - t0) / 1000;
    const scraped = (k1.at - k0.at) / 1000;
    const cpu = (c1 - c0) / seconds;
    // The viewers' counts have their own times (a generator reports once a second).
    const delivered = r1.at > r0.at ? (sum(r1.counts) - sum(r0.counts)) / ((r1.at - r0.at) / 1000) : 0;
    const row: RoomRow = {
      server: target.name,
      viewers: size,
      serverCpuPercent: round(cpu * 100, 2),
      mainThreadCpuPercent: round(((m1 - m0) / seconds) * 100, 2),
      publisherPacketsPerSecond: Math.round((k1.published - k0.published) / scraped),
      sentPerSecond: Math.round((k1.sent - k0.sent) / scraped),
      closedLegs: target.closedLegs() || '-',
      receiving: r1.counts.filter((n, i) => n > r0.counts[i]).length,
      deliveredPerSecond: Math.round(delivered),
      usPerDeliveredPacket: delivered > 0 ? round((cpu / delivered) * 1e6) : '-',
      marginalUsPerPacket: previous && delivered > previous.delivered ? round(((cpu - previous.cpu) / (delivered - previous.delivered)) * 1e6) : '-',
      windowS: round(seconds),
    };
    previous = { cpu, delivered };
    rows.push(row);
    process.stderr.write(`  rooms: ${JSON.stringify({ ...row, generatorsCpuPercent: round(((generators() - b0) / seconds) * 100) })}\n`);
  }
  return rows;
}

/** Waits until every viewer is receiving (packets counted twice, the second time more). */
async function allReceiving(crowd: Crowd, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let before = (await crowd.counts()).counts;
  for (;;) {
    await sleep(500);
    const now = (await crowd.counts()).counts;
    const idle = now.filter((n, i) => n <= before[i]).length;
    if (idle === 0 || Date.now() > deadline) return; // the window's `receiving` column tells how many are

    before = now;
  }
}

export interface RoomFit {
  server: string;
  /** Least-squares line through the watched sizes: CPU per delivered packet (µs)... */
  marginalUsPerPacket: number;
  /** ...and where it meets no viewers (% of a core): the room's fixed cost. */
  fixedCpuPercent: number;
  /** Measured with nobody watching (% of a core). */
  unwatchedCpuPercent: number | '-';
  /** The line's CPU at 20 viewers of 110 packets a second (% of a core). */
  at20ViewersCpuPercent: number;
}

/** One layout's cost as a line, fitted over its watched sizes (single windows wander on a shared host). */
export function fitRoom(rows: RoomRow[]): RoomFit {
  const watched = rows.filter((r) => r.viewers > 0 && r.deliveredPerSecond > 0);
  const n = watched.length;
  const mx = watched.reduce((a, r) => a + r.deliveredPerSecond, 0) / n;
  const my = watched.reduce((a, r) => a + r.serverCpuPercent, 0) / n;
  const sxy = watched.reduce((a, r) => a + (r.deliveredPerSecond - mx) * (r.serverCpuPercent - my), 0);
  const sxx = watched.reduce((a, r) => a + (r.deliveredPerSecond - mx) ** 2, 0);
  const slope = sxx > 0 ? sxy / sxx : NaN; // % of a core per packet a second
  const fixed = my - slope * mx;
  const unwatched = rows.find((r) => r.viewers === 0);
  return {
    server: rows[0]?.server ?? '-',
    marginalUsPerPacket: round(slope * 1e4),
    fixedCpuPercent: round(fixed, 2),
    unwatchedCpuPercent: unwatched ? unwatched.serverCpuPercent : '-',
    at20ViewersCpuPercent: round(fixed + slope * 20 * 110, 2),
  };
}

/** Layouts that could not be grown to every size, and why (the table shows the sizes reached). */
export const failures: string[] = [];

export const ROOM_SIZES = [0, 5, 10, 20, 40];
/** Room sizes for the load generator's viewers: the cost per room size, up to a lecture hall's. */
export const GENERATOR_SIZES = [0, 5, 20, 100, 300];

/**
 * The suite: first the kernel's floor (floorRoom: what sending the room's packets to that many
 * receivers costs by itself), then lancast as started by default (a worker per core, small rooms on the main thread) and
 * with no workers at all, each with libwebrtc viewers; then lancast as started with the load
 * generator's browser-like viewers at 5 to 300, the sizes beyond what libwebrtc viewers reach here
 * (5 and 20 cross-check the generator against libwebrtc).
 */
export async function rooms(sizes = ROOM_SIZES, windowS = 10, generatorSizes = GENERATOR_SIZES): Promise<{ rows: RoomRow[]; fits: RoomFit[]; failures: string[] }> {
  const rows: RoomRow[] = [];
  const fits: RoomFit[] = [];
  const generator = (base: string, room: string) => new GeneratorCrowd(base, room);
  // Each layout: its sizes, how its room starts, how long that room runs before its first size
  // (lancast's encoder up to speed, start-up's garbage collected) and how long each size settles.
  const lancast = (name: string, args: string[], crowd?: (base: string, room: string) => Crowd) => async () => {
    const target = await lancastRoom(name, args, [], {}, { crowd });
    await sleep(5_000);
    return target;
  };
  const layouts: { sizes: number[]; open: () => Promise<RoomTarget>; settleS?: number }[] = [
    // First the floor: the same packets to as many receivers, through the native fan-out alone.
    { sizes, open: async () => floorRoom(), settleS: 5 },
    { sizes, open: lancast('lancast', []) },
    { sizes, open: lancast('lancast --relay-workers 0', ['--relay-workers', '0']) },
    { sizes: generatorSizes, open: lancast('lancast, load-generator viewers', [], generator) },
  ];
  for (const layout of layouts) {
    if (layout.sizes.length === 0) continue;
    const target = await layout.open();
    try {
      const measured = await measureRoom(target, layout.sizes, windowS, layout.settleS);
      rows.push(...measured);
      fits.push(fitRoom(measured));
    } finally {
      await target.stop();
    }
  }
  return { rows, fits, failures };
}

// `node --import tsx bench/rooms.ts [sizes] [window s] [generator sizes]`: one run, printed as JSON (no results file).
if (import.meta.url === `file://${process.argv[1]}`) {
  const list = (arg: string | undefined, fallback: number[]) => (arg === undefined ? fallback : arg === '' ? [] : arg.split(',').map(Number));
  console.log(JSON.stringify(await rooms(list(process.argv[2], ROOM_SIZES), Number(process.argv[3] ?? 10), list(process.argv[4], GENERATOR_SIZES)), null, 2));
  process.exit(0);
}
