/**
 * A libwebrtc viewer of a Janus streaming mountpoint, through Janus's HTTP API as janus.js talks
 * to it: create a session, attach janus.plugin.streaming, `watch` (Janus answers with its offer on
 * the session's long poll), answer with `start`, then keep the session alive (a long poll always
 * open, a keepalive every 25 s). The same RTCPeerConnection as the bench's WHEP viewers, counting
 * received RTP packets the same way, so both servers carry identical viewers.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { sleep } from '../lib.js';

const { RTCPeerConnection } = createRequire(import.meta.url)('@roamhq/wrtc') as { RTCPeerConnection: typeof globalThis.RTCPeerConnection };

interface JanusMessage {
  janus: string;
  sender?: number;
  data?: { id: number };
  error?: { code: number; reason: string };
  plugindata?: { data: { error?: string; result?: { status?: string } } };
  jsep?: { type: RTCSdpType; sdp: string };
}

/** A viewer as the bench's viewer processes hold it. */
export interface BenchViewer {
  /** RTP packets received so far, audio and video (inbound-rtp packetsReceived). */
  packetsReceived(): Promise<number>;
  stop(): Promise<void>;
}

/** One Janus session: its requests, and its events as the long poll brings them. */
class JanusSession {
  readonly #url: string;
  readonly #events: JanusMessage[] = [];
  readonly #abort = new AbortController();
  readonly #keepalive: NodeJS.Timeout;
  #wake: () => void = () => undefined;

  private constructor(url: string) {
    this.#url = url;
    this.#keepalive = setInterval(() => void this.send({ janus: 'keepalive' }).catch(() => undefined), 25_000);
    void this.#poll();
  }

  static async create(base: string): Promise<JanusSession> {
    const created = await request(base, { janus: 'create' });
    return new JanusSession(`${base}/${created.data!.id}`);
  }

  /** A request to the session (or, with `handle`, to one of its plugin handles). */
  send(body: object, handle?: number): Promise<JanusMessage> {
    return request(handle === undefined ? this.#url : `${this.#url}/${handle}`, body);
  }

  /** The next event from `handle` that carries a JSEP or a plugin result or error. */
  async event(handle: number, timeoutMs = 20_000): Promise<JanusMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#events.findIndex((e) => e.sender === handle && e.janus === 'event');
      if (i >= 0) {
        const [event] = this.#events.splice(i, 1);
        const error = event.plugindata?.data.error;
        if (error) throw new Error(`Janus streaming plugin: ${error}`);
        return event;
      }
      if (Date.now() > deadline) throw new Error(`no event from Janus in ${timeoutMs} ms`);
      await Promise.race([new Promise<void>((r) => (this.#wake = r)), sleep(500)]);
    }
  }

  async destroy(): Promise<void> {
    clearInterval(this.#keepalive);
    this.#abort.abort();
    await this.send({ janus: 'destroy' }).catch(() => undefined);
  }

  async #poll(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      try {
        const res = await fetch(`${this.#url}?maxev=10`, { signal: this.#abort.signal });
        const got = (await res.json()) as JanusMessage | JanusMessage[];
        this.#events.push(...[got].flat().filter((e) => e.janus !== 'keepalive'));
        this.#wake();
      } catch {
        if (!this.#abort.signal.aborted) await sleep(500); // Janus busy or restarting: poll again
      }
    }
  }
}

async function request(url: string, body: object): Promise<JanusMessage> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, transaction: randomUUID() }) });
  const reply = (await res.json()) as JanusMessage;
  if (reply.janus === 'error') throw new Error(`Janus: ${reply.error?.reason ?? JSON.stringify(reply)}`);
  return reply;
}

function gathered(pc: RTCPeerConnection, timeoutMs = 3_000): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState !== 'complete') return;
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Watches mountpoint `id` of the Janus whose HTTP API is at `base` (e.g. http://127.0.0.1:8088/janus). */
export async function janusWatch(base: string, id: number): Promise<BenchViewer> {
  const session = await JanusSession.create(base);
  const pc = new RTCPeerConnection({ iceServers: [] });
  try {
    const handle = (await session.send({ janus: 'attach', plugin: 'janus.plugin.streaming' })).data!.id;
    await session.send({ janus: 'message', body: { request: 'watch', id } }, handle);
    const { jsep } = await session.event(handle);
    if (jsep?.type !== 'offer') throw new Error('Janus sent no offer for the mountpoint');
    await pc.setRemoteDescription(jsep);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await session.send({ janus: 'message', body: { request: 'start' }, jsep: { type: 'answer', sdp: pc.localDescription!.sdp } }, handle);
    await session.send({ janus: 'trickle', candidate: { completed: true } }, handle);
    await session.event(handle); // "starting" (or the plugin's error)
  } catch (err) {
    pc.close();
    await session.destroy();
    throw err;
  }
  return {
    async packetsReceived() {
      let packets = 0;
      (await pc.getStats()).forEach((s: { type: string; packetsReceived?: number }) => {
        if (s.type === 'inbound-rtp') packets += s.packetsReceived ?? 0;
      });
      return packets;
    },
    async stop() {
      await session.destroy();
      pc.close();
    },
  };
}
