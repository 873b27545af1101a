/**
 * werift's Event runs its subscribers, then starts an async function for its queued subscribers
 * (`queuingSubscribe`) on every `execute`, even when there are none: a promise, a `.catch`
 * promise and a microtask for each event on each packet. A publisher's RTP passes four events
 * (the ICE socket's data, the ICE agent's data, the DTLS transport's RTP, the track's RTP), so
 * about ten promises per received packet, and the garbage they make. The replacement `execute`
 * does what werift's does, in the same order, and starts the async part only when something is
 * queued: with nothing queued werift's async function runs to its end synchronously, does
 * nothing and cannot fail, so skipping it changes nothing a subscriber can see.
 *
 * Event's `execute` is an arrow function made per instance, so it is replaced per instance, on
 * the events of the receive path: when a leg starts SRTP (its ICE transports and agent, its DTLS
 * transport) and when a receiver gets a track.
 */
import { Event, RTCDtlsTransport, RTCRtpReceiver } from 'werift';
import { replaceMethod, type AnyFunction, type PatchTarget, type WeriftPatch } from './patch.js';

interface Subscriber {
  execute: AnyFunction;
}

/** werift's Event (common/src/event.ts), the parts `execute` reads. */
export interface WeriftEvent {
  ended: boolean;
  event: { stack: Subscriber[]; promiseStack: Subscriber[] };
  onerror: (e: unknown) => void;
  execute: AnyFunction & { [LEAN]?: true };
}

const LEAN = Symbol('lancast lean execute');

/** Whether `event` has the lean `execute`. */
export function isLean(event: WeriftEvent): boolean {
  return event.execute[LEAN] === true;
}

/** werift's `execute`, as the lean one copies it. */
const EXECUTE_SHAPE = [
  /^\(\.\.\.args\) => \{\s*if \(this\.ended\) \{\s*return;\s*\}/,
  /for \(const item of this\.event\.stack\) \{\s*item\.execute\(\.\.\.args\);\s*\}\s*\(async \(\) => \{/,
  /for \(const item of this\.event\.promiseStack\) \{\s*await item\.execute\(\.\.\.args\);\s*\}\s*\}\)\(\)\.catch\(\(e\) => \{\s*this\.onerror\(e\);\s*\}\);\s*\}$/,
];

/** Whether `fn` is werift's own `execute` (not one some other change put in its place). */
function weriftExecute(fn: AnyFunction): boolean {
  const source = fn.toString();
  return EXECUTE_SHAPE.every((re) => re.test(source));
}

/** Gives `event` the lean `execute` in place of werift's own (once; any other is left alone). */
export function leanEvent(event: WeriftEvent): void {
  if (isLean(event) || !weriftExecute(event.execute)) return;
  const execute = (...args: unknown[]): void => {
    if (event.ended) return;
    for (const item of event.event.stack) item.execute(...args);
    if (event.event.promiseStack.length === 0) return;
    // Something is queued: werift's own async part, as it is.
    (async () => {
      for (const item of event.event.promiseStack) await item.execute(...args);
    })().catch((e: unknown) => {
      event.onerror(e);
    });
  };
  event.execute = Object.assign(execute, { [LEAN]: true as const });
}

interface DtlsTransport {
  onRtp: WeriftEvent;
  onRtcp: WeriftEvent;
  /** The ICE agent (werift's Connection) and its transports (StunProtocol), gathered by now. */
  iceTransport: { connection: { onData: WeriftEvent; protocols: { onDataReceived: WeriftEvent }[] } };
}
interface Track {
  onReceiveRtp: WeriftEvent;
  onReceiveRtcp: WeriftEvent;
}

const startSrtp: PatchTarget = {
  name: 'RTCDtlsTransport.prototype.startSrtp',
  owner: RTCDtlsTransport.prototype,
  key: 'startSrtp',
  arity: 0,
  // The agent's data event (fed by each transport's) feeds the DTLS transport's RTP and RTCP events.
  source: [/this\.iceTransport\.connection\.onData\.subscribe\(/, /this\.onRtcp\.execute\(rtcp\)/, /this\.onRtp\.execute\(rtp\)/],
};
const addTrack: PatchTarget = {
  name: 'RTCRtpReceiver.prototype.addTrack',
  owner: RTCRtpReceiver.prototype,
  key: 'addTrack',
  arity: 1,
  source: [/this\.tracks\.push\(track\)/],
};


export const leanEvents: WeriftPatch = {
  name: 'lean-events',
  wrong: "werift's Event starts an async function (two promises, a microtask) on every execute, for queued subscribers that are almost never there",
  upstream: 'docs/upstream/werift-event-execute.md',
  targets: [startSrtp, addTrack],
  precondition: () => (weriftExecute((new Event() as unknown as WeriftEvent).execute) ? undefined : `Event's execute no longer matches ${EXECUTE_SHAPE.join(' ')}`),
  apply() {
    replaceMethod(this.name, startSrtp, (original) =>
      function (this: DtlsTransport) {
        const result: unknown = original.call(this);
        const agent = this.iceTransport.connection;
        for (const event of [...agent.protocols.map((p) => p.onDataReceived), agent.onData, this.onRtp, this.onRtcp]) leanEvent(event);
        return result;
      },
    );
    replaceMethod(this.name, addTrack, (original) =>
      function (this: unknown, track: Track) {
        leanEvent(track.onReceiveRtp);
        leanEvent(track.onReceiveRtcp);
        return original.call(this, track) as unknown;
      },
    );
  },
};
