/**
 * A relay worker thread: it holds some of the viewers' legs (werift peer connections, their
 * forwarding), so fan-out uses every core while the main thread keeps signaling, HTTP and the
 * publishers. The main thread sends each publisher packet once per worker; the worker sends it
 * to each of its viewers of that publisher.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { egressImplementation } from './native.js';
import { Forwarder, LEG_COUNTERS, relayCounters, type LegCounts } from './forwarder.js';
import { Subscriber, type SubscriberSource } from './subscriber.js';
import { codecsFromData, type Codecs, type FromWorker, type ToWorker, type WorkerInit } from './worker-protocol.js';
import { installWeriftPatches } from './werift/index.js';

// This thread has its own copy of werift: patch it before any leg exists.
installWeriftPatches();

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: FromWorker) => port.postMessage(m);

/** A publisher as the worker sees it: its codecs, a local forwarder, and a way to ask for keyframes. */
class Source implements SubscriberSource {
  readonly forwarder = new Forwarder();
  readonly codecs: Codecs;
  readonly id: number;
  legs = 0;
  constructor(id: number, codecs: Codecs, layers = 0) {
    this.id = id;
    this.codecs = codecs;
    this.forwarder.videoCodec = codecs.video?.mimeType;
    this.forwarder.simulcastLayers = layers;
    this.forwarder.requestKeyframe = (layer) => this.requestKeyframe(layer);
    this.forwarder.onDemand = (demand) => post({ t: 'demand', src: id, layers: demand });
  }
  requestKeyframe(layer = 0): void {
    post({ t: 'keyframe', src: this.id, layer });
  }
}

const sources = new Map<number, Source>();
const legs = new Map<string, Subscriber>();

function reply(req: number, work: () => Promise<string | void>): void {
  work().then(
    (value) => post({ t: 'reply', req, ok: true, value: value ?? undefined }),
    (err: unknown) => post({ t: 'reply', req, ok: false, error: (err as Error).message }),
  );
}

function leg(id: string): Subscriber {
  const s = legs.get(id);
  if (!s) throw new Error('that viewer has left');
  return s;
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'rtp':
      sources.get(m.src)?.forwarder.forward(m.kind, m.seq, m.ts, m.marker, m.payload, m.layer);
      return;
    case 'create': {
      let source = sources.get(m.src);
      if (!source) {
        source = new Source(m.src, codecsFromData(m.codecs), m.layers);
        sources.set(m.src, source);
      }
      source.forwarder.layers.setPaused(m.paused);
      const src = source;
      src.legs++;
      const id = m.id;
      const subscriber = new Subscriber(id, src, init.ice, (s) => {
        legs.delete(s.id);
        if (--src.legs === 0) {
          src.forwarder.clear();
          sources.delete(src.id);
        }
        post({ t: 'closed', id: s.id, reason: s.closeReason ?? 'closed' });
      });
      subscriber.onPlaying = (playing) => post({ t: 'playing', id, playing });
      legs.set(id, subscriber);
      return;
    }
    case 'quality':
      legs.get(m.id)?.setQuality(m.choice, m.shown);
      return;
    case 'paused':
      sources.get(m.src)?.forwarder.layers.setPaused(m.layers);
      return;
    case 'offer':
      reply(m.req, () => leg(m.id).offer());
      return;
    case 'answer':
      reply(m.req, () => leg(m.id).acceptAnswer(m.sdp));
      return;
    case 'whep':
      reply(m.req, () => leg(m.id).answer(m.sdp));
      return;
    case 'candidate':
      void legs.get(m.id)?.addCandidate(m.candidate).catch(() => undefined);
      return;
    case 'close':
      legs.get(m.id)?.close();
      return;
  }
});

// Counters go to the main thread as deltas, with each source's outgoing rate, the simulcast
// viewers' link estimates, and how busy this thread was (event-loop utilisation: the share of the
// time it ran rather than waited).
const legCounts = (): LegCounts => Object.fromEntries(LEG_COUNTERS.map((k) => [k, relayCounters[k]])) as LegCounts;
let reported = legCounts();
/** This thread's own CPU time (user + system) in seconds, from Linux's /proc/thread-self. */
function threadCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0; // not Linux
  }
}
let elu = performance.eventLoopUtilization();
setInterval(() => {
  const now = legCounts();
  const busy = performance.eventLoopUtilization(elu);
  elu = performance.eventLoopUtilization();
  post({
    t: 'stats',
    counts: Object.fromEntries(LEG_COUNTERS.map((k) => [k, now[k] - reported[k]])) as LegCounts,
    bitsPerSecond: Object.fromEntries([...sources.values()].map((s) => [s.id, s.forwarder.sent.bitsPerSecond])),
    links: [...sources.values()].flatMap((s) => s.forwarder.links()),
    utilization: busy.utilization,
    cpuSeconds: threadCpuSeconds(),
  });
  reported = now;
}, 1_000).unref();

// werift's first peer connection in a thread costs ~100 ms of loading and compiling: pay it now,
// not when the first viewer arrives.
async function warmUp(): Promise<void> {
  const source = new Source(0, codecsFromData({ audio: { mimeType: 'audio/opus', clockRate: 48000, channels: 2 }, video: { mimeType: 'video/VP8', clockRate: 90000 } }));
  const leg = new Subscriber('warm-up', source, init.ice, () => undefined);
  try {
    await leg.offer();
  } finally {
    leg.close();
    source.forwarder.clear();
  }
}
/** This thread's Linux thread id (for per-thread CPU from /proc), or 0 elsewhere. */
function threadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || 0;
  } catch {
    return 0;
  }
}
void warmUp()
  .catch(() => undefined)
  .finally(() => post({ t: 'ready', egress: egressImplementation.name, threadId: threadId() }));
