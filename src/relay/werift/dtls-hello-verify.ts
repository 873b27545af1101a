/**
 * A second HelloVerifyRequest is ordinary DTLS (RFC 6347 4.2.1, 4.2.4: the relay was slow and
 * sent its ClientHello twice, the viewer answered each). werift already retransmits its flight 3
 * until flight 4 arrives, so the repeat asks for nothing new and is dropped before werift sees it.
 */
import { DtlsClient, DtlsSocket } from 'werift';
import { replaceMethod, type PatchTarget, type WeriftPatch } from './patch.js';

const HELLO_VERIFY_REQUEST = 3;
/** werift's flight number once the client has answered a HelloVerifyRequest. */
const FLIGHT_3 = 3;

interface HandshakeLike {
  msg_type: number;
}
type HandleFragmentHandshake = (this: { dtls: { flight: number } }, messages: HandshakeLike[]) => HandshakeLike[];

/** Repeated HelloVerifyRequests dropped (for tests). */
export const dtlsFixCounters = { repeatedHelloVerifyRequests: 0 };

const handleFragmentHandshake: PatchTarget = {
  name: 'DtlsSocket.prototype.handleFragmentHandshake',
  owner: DtlsSocket.prototype,
  key: 'handleFragmentHandshake',
  arity: 1,
  // Every received handshake message passes here, reassembled, before the flight handlers.
  source: [/bufferFragmentedHandshakes/],
};

export const ignoreRepeatedHelloVerify: WeriftPatch = {
  name: 'ignore-repeated-hello-verify',
  wrong: "werift's DTLS client fails the connection when a HelloVerifyRequest arrives twice (2-10 % of legs under a join burst)",
  upstream: 'docs/upstream/werift-hello-verify-repeat.md',
  targets: [handleFragmentHandshake],
  apply() {
    replaceMethod<HandleFragmentHandshake>(this.name, handleFragmentHandshake, (original) =>
      function (this: { dtls: { flight: number } }, messages) {
        const handshakes = original.call(this, messages);
        if (!(this instanceof DtlsClient) || this.dtls.flight < FLIGHT_3) return handshakes;
        const kept = handshakes.filter((h) => h.msg_type !== HELLO_VERIFY_REQUEST);
        dtlsFixCounters.repeatedHelloVerifyRequests += handshakes.length - kept.length;
        return kept;
      },
    );
  },
};
