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
  /** Every window's whole-process CPU (% of a core), in order; the row is the median one's. */
  windowsCpuPercent: number[];
  /** Every window's µs per delivered packet, in order (NaN with nothing delivered). */
  windowsUsPerDeliveredPacket: number[];
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

/** Grow a room through `sizes`, measuring `windows` windows of `windowS` seconds at each after `settleS`. */
export async function measureRoom(target: RoomTarget, sizes: number[], windowS = 10, settleS = SETTLE_S, windows = 1): Promise<RoomRow[]> {
  return (await measureRooms([target], sizes, windowS, settleS, windows))[0];
}

/** One target's figures over one window. */
interface Window {
  cpu: number;
  main: number;
  seconds: number;
  published: number;
  sent: number;
  scraped: number;
  received: number[];
  delivered: number;
}

/**
 * Grow rooms together through `sizes` and measure them over the same windows: each size, after
 * `settleS`, is `windows` windows of `windowS` seconds, every target's CPU read at the same moments,
 * so a host that speeds up or slows down does so for all of them at once. Each target's row at a
 * size is its median window (by whole-process CPU); `windowsCpuPercent` and
 * `windowsUsPerDeliveredPacket` list every window in order, for ratios taken window by window.
 * Returns one list of rows per target; a target that fails to grow stops there (see `failures`).
 */
export async function measureRooms(targets: RoomTarget[], sizes: number[], windowS = 10, settleS = SETTLE_S, windows = 1): Promise<RoomRow[][]> {
  const rows: RoomRow[][] = targets.map(() => []);
  const previous: ({ cpu: number; delivered: number } | undefined)[] = targets.map(() => undefined);
  const growing = new Set(targets);
  for (const size of sizes) {
    for (const target of [...growing]) {
      try {
        await target.crowd.grow(size);
      } catch (err) {
        // The room ended under the load (its publisher's leg failed): say so and stop growing it.
        process.stderr.write(`  rooms: ${target.name} at ${size} viewers: ${(err as Error).message}; legs closed: ${target.closedLegs()}\n`);
        failures.push(`${target.name}, ${size} viewers: ${(err as Error).message.trim()}; legs closed: ${target.closedLegs() || 'none'}`);
        growing.delete(target);
      }
    }
    const measured = targets.filter((t) => growing.has(t));
    if (measured.length === 0) break;
    for (const target of measured) await allReceiving(target.crowd);
    // The unwatched room is the first step, seconds after the server started, which settles the
    // same way (2.3-2.6 % of a core in a 10 s window 5 s after start, 0.7-1.0 % 20 s later).
    await sleep(settleS * 1000);
    const taken: Window[][] = measured.map(() => []);
    for (let w = 0; w < windows; w++) {
      // The server's counters are read through its /metrics (about 6 ms of its CPU each time), outside
      // the CPU window: Janus is not asked, and a scrape is the monitoring's cost, not the room's.
      const scrape = async (t: RoomTarget) => ({ published: await t.publisherPackets(), sent: await t.sentPackets(), at: performance.now() });
      const k0 = await Promise.all(measured.map(scrape));
      const r0 = await Promise.all(measured.map((t) => t.crowd.counts()));
      const b0 = treeCpuSeconds(process.pid);
      const c0 = measured.map((t) => [cpuSeconds(t.pid), threadCpuSeconds(t.pid, t.pid)]);
      const t0 = performance.now();
      await sleep(windowS * 1000);
      const c1 = measured.map((t) => [cpuSeconds(t.pid), threadCpuSeconds(t.pid, t.pid)]);
      const t1 = performance.now();
      const b1 = treeCpuSeconds(process.pid);
      const r1 = await Promise.all(measured.map((t) => t.crowd.counts()));
      const k1 = await Promise.all(measured.map(scrape));
      const seconds = (t1 - t0) / 1000;
      const servers = sum(c1.map((c, i) => c[0] - c0[i][0]));
      measured.forEach((_, i) => {
        // The viewers' counts have their own times (a generator reports once a second).
        const [a, b] = [r0[i], r1[i]];
        const window: Window = {
          cpu: (c1[i][0] - c0[i][0]) / seconds,
          main: (c1[i][1] - c0[i][1]) / seconds,
          seconds,
          published: k1[i].published - k0[i].published,
          sent: k1[i].sent - k0[i].sent,
          scraped: (k1[i].at - k0[i].at) / 1000,
          received: b.counts.map((n, v) => n - (a.counts[v] ?? 0)),
          delivered: b.at > a.at ? (sum(b.counts) - sum(a.counts)) / ((b.at - a.at) / 1000) : 0,
        };
        taken[i].push(window);
        process.stderr.write(`  rooms: ${JSON.stringify({ server: measured[i].name, viewers: size, window: w + 1, serverCpuPercent: round(window.cpu * 100, 2), mainThreadCpuPercent: round(window.main * 100, 2), deliveredPerSecond: Math.round(window.delivered), generatorsCpuPercent: round(((b1 - b0 - servers) / seconds) * 100) })}\n`);
      });
    }
    measured.forEach((target, i) => {
      const all = taken[i];
      const median = [...all].sort((x, y) => x.cpu - y.cpu)[Math.floor((all.length - 1) / 2)];
      const t = targets.indexOf(target);
      const before = previous[t];
      const row: RoomRow = {
        server: target.name,
        viewers: size,
        serverCpuPercent: round(median.cpu * 100, 2),
        mainThreadCpuPercent: round(median.main * 100, 2),
        publisherPacketsPerSecond: Math.round(median.published / median.scraped),
        sentPerSecond: Math.round(median.sent / median.scraped),
        closedLegs: target.closedLegs() || '-',
        receiving: median.received.filter((n) => n > 0).length,
        deliveredPerSecond: Math.round(median.delivered),
        usPerDeliveredPacket: median.delivered > 0 ? round((median.cpu / median.delivered) * 1e6) : '-',
        marginalUsPerPacket: before && median.delivered > before.delivered ? round(((median.cpu - before.cpu) / (median.delivered - before.delivered)) * 1e6) : '-',
        windowS: round(median.seconds),
        windowsCpuPercent: all.map((x) => round(x.cpu * 100, 2)),
        windowsUsPerDeliveredPacket: all.map((x) => (x.delivered > 0 ? round((x.cpu / x.delivered) * 1e6) : NaN)),
      };
      previous[t] = { cpu: median.cpu, delivered: median.delivered };
      rows[t].push(row);
    });
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
 * The suite: lancast as started by default (a worker per core, small rooms on the main thread)
 * beside the kernel's floor (floorRoom: what sending the room's packets to that many receivers
 * costs by itself), both grown together and measured over the same windows; then lancast with no
 * workers at all; each with libwebrtc viewers. Then lancast as started with the load generator's
 * browser-like viewers at 5 to 300, the sizes beyond what libwebrtc viewers reach here (5 and 20
 * cross-check the generator against libwebrtc). Each size is `windows` windows of `windowS`, its
 * median kept.
 */
export async function rooms(sizes = ROOM_SIZES, windowS = 10, generatorSizes = GENERATOR_SIZES, windows = 3): Promise<{ rows: RoomRow[]; fits: RoomFit[]; failures: string[] }> {
  const rows: RoomRow[] = [];
  const fits: RoomFit[] = [];
  const generator = (base: string, room: string) => new GeneratorCrowd(base, room);
  // Each group of rooms measured together: their sizes and how each room starts.
  const lancast = (name: string, args: string[], crowd?: (base: string, room: string) => Crowd) => async () => await lancastRoom(name, args, [], {}, { crowd });
  const groups: { sizes: number[]; open: (() => Promise<RoomTarget>)[] }[] = [
    { sizes, open: [async () => floorRoom(), lancast('lancast', [])] },
    { sizes, open: [lancast('lancast --relay-workers 0', ['--relay-workers', '0'])] },
    { sizes: generatorSizes, open: [lancast('lancast, load-generator viewers', [], generator)] },
  ];
  for (const group of groups) {
    if (group.sizes.length === 0) continue;
    const targets: RoomTarget[] = [];
    try {
      for (const open of group.open) targets.push(await open());
      // lancast's encoder up to speed, start-up's garbage collected.
      await sleep(5_000);
      for (const measured of await measureRooms(targets, group.sizes, windowS, undefined, windows)) {
        rows.push(...measured);
        if (measured.length > 0) fits.push(fitRoom(measured));
      }
    } finally {
      for (const target of targets) await target.stop();
    }
  }
  return { rows, fits, failures };
}

// `node --import tsx bench/rooms.ts [sizes] [window s] [generator sizes] [windows]`: one run, printed as JSON (no results file).
if (import.meta.url === `file://${process.argv[1]}`) {
  const list = (arg: string | undefined, fallback: number[]) => (arg === undefined ? fallback : arg === '' ? [] : arg.split(',').map(Number));
  console.log(JSON.stringify(await rooms(list(process.argv[2], ROOM_SIZES), Number(process.argv[3] ?? 10), list(process.argv[4], GENERATOR_SIZES), Number(process.argv[5] ?? 3)), null, 2));
  process.exit(0);
}
