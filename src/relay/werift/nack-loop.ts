/**
 * werift's NackHandler (a receiver's NACK generator: on a publisher's leg, one per SSRC for a
 * simulcast publisher, simulcast-receiver.ts) starts a 5 ms interval the first time it sees a
 * packet missing, and that interval never stops. Each tick awaits `sendNack()`, whose promise
 * settles only when there was something to NACK: once the missing packets have come (or been
 * given up after 10 NACKs), every later tick waits forever on a new promise, and the check that
 * would clear the interval is never reached. So a leg that lost one packet wakes the relay 200
 * times a second for the rest of its life (three times over for a simulcast publisher), and while
 * loss is pending NACKs each missing packet every 5 ms, 10 times within 50 ms.
 *
 * The replacement stops the loop when nothing is missing, and asks as libwebrtc's NACK module
 * does (modules/video_coding/nack_requester.cc: a check every 20 ms, at most 10 NACKs a packet):
 * at once when a gap is seen (after the packet in hand, so one NACK covers the whole gap), then
 * every NACK_INTERVAL_MS with werift's own retry count, so a missing packet is asked for over
 * 200 ms, not 50.
 */
import { RTCRtpReceiver } from 'werift';
import { replaceMethod, type PatchTarget, type WeriftPatch } from './patch.js';

/** How often a missing packet is asked for again (libwebrtc's NACK module checks every 20 ms). */
export const NACK_INTERVAL_MS = 20;

/** werift's NackHandler, the parts setLost uses. */
interface Nack {
  _lost: Record<number, number>;
  nackLoop: NodeJS.Timeout | undefined;
  closed: boolean;
  sendNack(): Promise<unknown>;
}
type SetLost = (this: Nack, seq: number, count: number) => void;

/** NackHandler is not exported: its prototype, from a receiver werift makes (no side effects). */
const nackPrototype = Object.getPrototypeOf((new RTCRtpReceiver({} as never, 'video', 0) as unknown as { nack: object }).nack) as object;

const setLost: PatchTarget = {
  name: 'NackHandler.prototype.setLost',
  owner: nackPrototype,
  key: 'setLost',
  arity: 2,
  source: [
    /this\._lost\[seq\] = count;\s*if \(this\.nackLoop \|\| this\.closed\) \{\s*return;\s*\}\s*this\.nackLoop = setInterval\(async \(\) => \{/,
    /await this\.sendNack\(\);\s*if \(!Object\.keys\(this\._lost\)\.length\) \{\s*clearInterval\(this\.nackLoop\);\s*this\.nackLoop = void 0;\s*\}/,
    /\}, 5\);\s*\}$/,
  ],
};

/** sendNack's promise settles only when it sent something: the loop must not wait on it for that. */
const SEND_NACK = /^\(\) => new Promise\(\(r, f\) => \{\s*if \(this\.lostSeqNumbers\.length > 0 && this\.mediaSourceSsrc\) \{/;

export const nackLoop: WeriftPatch = {
  name: 'nack-loop',
  wrong: "werift's NACK generator starts a 5 ms interval at the first lost packet and never stops it (each tick awaits a promise that never settles once nothing is missing)",
  upstream: 'docs/upstream/werift-nack-loop.md',
  targets: [setLost],
  precondition() {
    // sendNack is an arrow function made per instance: read it from one.
    const probe = (new RTCRtpReceiver({} as never, 'video', 0) as unknown as { nack: { sendNack: unknown } }).nack;
    return SEND_NACK.test(String(probe.sendNack)) ? undefined : `NackHandler's sendNack no longer matches ${SEND_NACK}`;
  },
  apply() {
    replaceMethod<SetLost>(this.name, setLost, () =>
      function (this: Nack, seq, count) {
        this._lost[seq] = count;
        if (this.nackLoop || this.closed) return;
        const tick = () => {
          if (this.closed) return;
          if (Object.keys(this._lost).length === 0) {
            clearInterval(this.nackLoop);
            this.nackLoop = undefined;
            return;
          }
          // werift logs a failed send and goes on.
          this.sendNack().catch(() => undefined);
        };
        this.nackLoop = setInterval(tick, NACK_INTERVAL_MS);
        setImmediate(tick);
      },
    );
  },
};
