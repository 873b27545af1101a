/**
 * lancast side by side with Janus (issue 17): the same GStreamer feed (bench/relay/gst-feed.py)
 * and the same libwebrtc viewers, both servers running at once and measured over the same windows
 * (each with its own copy of the feed and its own viewers). lancast as started (the small-room
 * bench's first layout) gets the feed over WHIP; Janus 1.1.2's streaming plugin gets it
 * as plain RTP on a mountpoint. Everything stays on 127.0.0.1: Janus, webrtcbin (libnice) and the
 * viewers run with LD_PRELOAD of ../shared/tools/lo-as-iface.c (a copy is built per run), which
 * makes `lo` an ordinary interface and hides the others. Missing Janus or GStreamer skips this
 * suite only, saying why.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from './lib.js';
import { JsonChild } from './relay/wrtc-child.js';
import { failures, fitRoom, lancastRoom, measureRooms, ViewerCrowd, type RoomFit, type RoomRow, type RoomTarget } from './rooms.js';

const JANUS = '/usr/bin/janus';
const JANUS_LIB = '/usr/lib/x86_64-linux-gnu/janus';
const SHIM_SOURCE = fileURLToPath(new URL('../../shared/tools/lo-as-iface.c', import.meta.url));
const MOUNTPOINT = 1;

/** What this suite needs that may be missing on a machine, each with how to get it. */
export function missing(): string[] {
  const lacking: string[] = [];
  if (!existsSync(JANUS) || !existsSync(join(JANUS_LIB, 'plugins/libjanus_streaming.so'))) lacking.push('Janus (apt-get install janus)');
  try {
    execFileSync('/usr/bin/python3', ['-c', "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0'); from gi.repository import Gst; Gst.init(None); import sys; sys.exit(0 if all(Gst.ElementFactory.find(e) for e in ('webrtcbin', 'vp8enc', 'opusenc', 'videotestsrc', 'udpsink')) else 1)"], { stdio: 'ignore' });
  } catch {
    lacking.push('GStreamer with webrtcbin from Python (apt-get install python3-gi gir1.2-gst-plugins-bad-1.0 gstreamer1.0-plugins-bad gstreamer1.0-plugins-good gstreamer1.0-nice)');
  }
  if (!existsSync(SHIM_SOURCE)) lacking.push(`the loopback shim's source (${SHIM_SOURCE})`);
  return lacking;
}

/** Builds the loopback shim into `dir`; returns the environment that preloads it. */
export function buildShim(dir: string): NodeJS.ProcessEnv {
  const so = join(dir, 'lo-as-iface.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', so, SHIM_SOURCE, '-ldl']);
  return { LD_PRELOAD: so };
}

/** A port nobody holds now, TCP or UDP, on 127.0.0.1. */
async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'tcp') {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await new Promise((r) => server.close(r));
    return port;
  }
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const { port } = socket.address();
  await new Promise<void>((r) => socket.close(r));
  return port;
}

/** Janus's configuration: the streaming plugin and the HTTP transport alone, on 127.0.0.1. */
function configure(dir: string, httpPort: number, videoPort: number, audioPort: number): string {
  const config = join(dir, 'config');
  for (const sub of ['config', 'plugins', 'transports', 'none']) mkdirSync(join(dir, sub));
  symlinkSync(join(JANUS_LIB, 'plugins/libjanus_streaming.so'), join(dir, 'plugins/libjanus_streaming.so'));
  symlinkSync(join(JANUS_LIB, 'transports/libjanus_http.so'), join(dir, 'transports/libjanus_http.so'));
  writeFileSync(
    join(config, 'janus.jcfg'),
    `general: {
  configs_folder = "${config}"
  plugins_folder = "${dir}/plugins"
  transports_folder = "${dir}/transports"
  events_folder = "${dir}/none"
  loggers_folder = "${dir}/none"
  debug_level = 4
  interface = "127.0.0.1"
}
nat: {
  nice_debug = false
  ice_enforce_list = "lo"
}
`,
  );
  writeFileSync(join(config, 'janus.transport.http.jcfg'), `general: {\n  http = true\n  port = ${httpPort}\n  ip = "127.0.0.1"\n  base_path = "/janus"\n}\nadmin: {\n  admin_http = false\n}\n`);
  writeFileSync(
    join(config, 'janus.plugin.streaming.jcfg'),
    `bench: {
  type = "rtp"
  id = ${MOUNTPOINT}
  description = "the small-room bench's feed"
  media = (
    { type = "audio" mid = "a" port = ${audioPort} pt = 111 codec = "opus" iface = "127.0.0.1" },
    { type = "video" mid = "v" port = ${videoPort} pt = 100 codec = "vp8" iface = "127.0.0.1" }
  )
}
`,
  );
  return config;
}

/** Ends a process started in its own group, and everything in that group. */
async function killGroup(proc: ChildProcess, graceMs = 5_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  process.kill(-proc.pid!, 'SIGTERM');
  const timer = setTimeout(() => process.kill(-proc.pid!, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Janus with one RTP mountpoint fed by the GStreamer pipeline, viewers through its HTTP API. */
export async function janusRoom(name: string, shim: NodeJS.ProcessEnv): Promise<RoomTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'lancast-janus-'));
  const [httpPort, videoPort, audioPort] = [await freePort('tcp'), await freePort('udp'), await freePort('udp')];
  const config = configure(dir, httpPort, videoPort, audioPort);
  const janus = spawn(JANUS, ['-F', config, '-C', join(config, 'janus.jcfg'), '--disable-colors'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...shim } });
  let out = '';
  janus.stdout.on('data', (d) => (out = (out + d).slice(-100_000)));
  janus.stderr.on('data', (d) => (out = (out + d).slice(-100_000)));
  const base = `http://127.0.0.1:${httpPort}/janus`;
  let feed: JsonChild | undefined;
  // Janus has its own process group, so it would outlive a bench that crashes: end it then too.
  const reap = () => {
    try {
      process.kill(-janus.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', reap);
  const cleanUp = async () => {
    await feed?.kill();
    await killGroup(janus);
    process.off('exit', reap);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let ready = false; !ready; ) {
      if (janus.exitCode !== null) throw new Error(`Janus exited with ${janus.exitCode}: ${out.slice(-1000)}`);
      if (/JANUS Streaming plugin initialized/.test(out)) ready = (await fetch(`${base}/info`).catch(() => undefined))?.status === 200;
      if (!ready) await sleep(200);
    }
    feed = new JsonChild('./gst-feed.py', ['rtp', '127.0.0.1', String(videoPort), String(audioPort)]);
    const { status } = await feed.next<{ status: number }>();
    if (status !== 0) throw new Error(`the GStreamer feed failed: ${feed.stderr.slice(-300)}`);
  } catch (err) {
    await cleanUp();
    throw err;
  }
  let stopping = false;
  janus.once('exit', (code, signal) => {
    if (!stopping) failures.push(`${name}: Janus ended (${signal ?? code}): ${out.slice(-300)}`);
  });
  const crowd = new ViewerCrowd('janus', base, String(MOUNTPOINT), shim);
  return {
    name,
    pid: janus.pid!,
    // Janus counts packets per handle only (admin API): the viewers' count is the figure here.
    publisherPackets: () => Promise.resolve(NaN),
    sentPackets: () => Promise.resolve(NaN),
    closedLegs() {
      const why = new Map<string, number>();
      for (const m of out.matchAll(/Hanging up PeerConnection because of a (.*)/g)) why.set(m[1], (why.get(m[1]) ?? 0) + 1);
      return [...why].map(([w, n]) => `${n}: ${w}`).join('; ');
    },
    crowd,
    async stop() {
      stopping = true;
      await crowd.stop();
      await cleanUp();
    },
  };
}

/** The GStreamer feed publishing over WHIP with the shim preloaded (webrtcbin's libnice). */
const gstWhip = (shim: NodeJS.ProcessEnv) => (whipUrl: string, key: string) => new JsonChild('./gst-feed.py', ['whip', whipUrl, key], shim);

export interface SideBySideRow {
  viewers: number;
  lancastCpuPercent: number | '-';
  janusCpuPercent: number | '-';
  lancastDeliveredPerSecond: number | '-';
  janusDeliveredPerSecond: number | '-';
  lancastUsPerDeliveredPacket: number | '-';
  janusUsPerDeliveredPacket: number | '-';
  /**
   * lancast's µs per delivered packet over Janus's (the target: ≤ 0.5): the median of the
   * ratios taken window by window (both servers measured over the same windows).
   */
  lancastOverJanus: number | '-';
  /** Each window's ratio, in order. */
  windowsLancastOverJanus: number[];
}

export interface JanusResult {
  /** Why the suite did not run (what is missing), if it did not. */
  skipped?: string;
  /** Load average (1 min) when the suite began and ended: the machine is shared. */
  loadAverage?: { before: number; after: number };
  rows: RoomRow[];
  sideBySide: SideBySideRow[];
  fits: RoomFit[];
  failures: string[];
}

export const JANUS_SIZES = [0, 5, 15];
const NAMES = ['lancast (GStreamer WHIP feed)', 'Janus 1.1.2 (GStreamer RTP feed)'];

/** The two servers' rows at each size, and lancast's cost per delivered packet over Janus's. */
function sideBySide(lancast: RoomRow[], janus: RoomRow[], sizes: number[]): SideBySideRow[] {
  return sizes.map((viewers) => {
    const l = lancast.find((r) => r.viewers === viewers);
    const j = janus.find((r) => r.viewers === viewers);
    const lu = l?.usPerDeliveredPacket ?? '-';
    const ju = j?.usPerDeliveredPacket ?? '-';
    const lw = l?.windowsUsPerDeliveredPacket ?? [];
    const jw = j?.windowsUsPerDeliveredPacket ?? [];
    const ratios = lw.map((x, w) => x / jw[w]).filter((r) => Number.isFinite(r)).map((r) => Math.round(r * 100) / 100);
    const median = [...ratios].sort((a, b) => a - b)[Math.floor((ratios.length - 1) / 2)];
    return {
      viewers,
      lancastCpuPercent: l?.serverCpuPercent ?? '-',
      janusCpuPercent: j?.serverCpuPercent ?? '-',
      lancastDeliveredPerSecond: l?.deliveredPerSecond ?? '-',
      janusDeliveredPerSecond: j?.deliveredPerSecond ?? '-',
      lancastUsPerDeliveredPacket: lu,
      janusUsPerDeliveredPacket: ju,
      lancastOverJanus: median ?? '-',
      windowsLancastOverJanus: ratios,
    };
  });
}

/**
 * The suite: lancast (as started) and Janus, both running at once, each room grown through `sizes`
 * and both measured over the same `windows` windows of `windowS` at each size: a host that slows
 * down mid-run (on this shared machine one server's cost for the same room wandered 2x between
 * runs taken minutes apart) slows both, and the ratio is taken window by window.
 */
export async function janusBench(sizes = JANUS_SIZES, windowS = 10, windows = 3): Promise<JanusResult> {
  const lacking = missing();
  if (lacking.length) {
    const skipped = `skipped: missing ${lacking.join('; ')}`;
    process.stderr.write(`janus: ${skipped}\n`);
    return { skipped, rows: [], sideBySide: [], fits: [], failures: [] };
  }
  const dir = mkdtempSync(join(tmpdir(), 'lancast-shim-'));
  const before = loadavg()[0];
  let measured: RoomRow[][] = [[], []];
  const targets: RoomTarget[] = [];
  try {
    const shim = buildShim(dir);
    const starts: (() => Promise<RoomTarget>)[] = [
      () => lancastRoom(NAMES[0], [], [], {}, { publish: gstWhip(shim), viewerEnv: shim }),
      () => janusRoom(NAMES[1], shim),
    ];
    for (const [i, start] of starts.entries()) {
      try {
        targets.push(await start());
      } catch (err) {
        // A server that cannot start is this suite's failure to report, not the whole run's.
        failures.push(`${NAMES[i]}: did not start: ${(err as Error).message.slice(0, 500)}`);
      }
    }
    if (targets.length === starts.length) {
      await sleep(5_000); // the encoders up to speed, startup's garbage collected
      measured = await measureRooms(targets, sizes, windowS, undefined, windows);
    }
  } finally {
    for (const target of targets) await target.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const [lancast, janus] = measured;
  return {
    loadAverage: { before, after: loadavg()[0] },
    rows: measured.flat(),
    sideBySide: sideBySide(lancast, janus, sizes),
    fits: measured.filter((rows) => rows.length > 0).map(fitRoom),
    failures: failures.filter((f) => NAMES.some((n) => f.startsWith(n))),
  };
}

// `node --import tsx bench/janus.ts [sizes] [window s] [windows]`: one run, printed as JSON (no results file).
if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv[2] ? process.argv[2].split(',').map(Number) : JANUS_SIZES;
  console.log(JSON.stringify(await janusBench(sizes, Number(process.argv[3] ?? 10), Number(process.argv[4] ?? 3)), null, 2));
  process.exit(0);
}
