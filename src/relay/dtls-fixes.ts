/**
 * werift's DTLS client fails the whole connection when a HelloVerifyRequest arrives twice: it
 * answers the first (its flight 3, a ClientHello with the cookie) and throws on the second. But a
 * second one is ordinary DTLS (RFC 6347 4.2.1, 4.2.4): when the relay is slow to answer, it sends
 * its ClientHello again and the viewer answers each copy. Under a join burst on a busy relay this
 * failed 2-10 % of new viewers' legs ("peer connection failed" with ICE connected) whenever the
 * relay was the DTLS client (WHEP, and viewers' browsers that take the server role).
 *
 * A repeated HelloVerifyRequest asks for nothing new: werift already retransmits its flight 3
 * until the server's flight 4 arrives. So the repeat is dropped before werift sees it.
 * Imported for its effect by every module that makes werift peer connections.
 */
import { DtlsClient, DtlsSocket } from 'werift';

const HELLO_VERIFY_REQUEST = 3;
/** werift's flight number once the client has answered a HelloVerifyRequest. */
const FLIGHT_3 = 3;

interface HandshakeLike {
  msg_type: number;
}

/** Repeated HelloVerifyRequests dropped (for tests). */
export const dtlsFixCounters = { repeatedHelloVerifyRequests: 0 };

let patched = false;
export function ignoreRepeatedHelloVerifyRequests(): void {
  if (patched) return;
  patched = true;
  const proto = DtlsSocket.prototype as unknown as { handleFragmentHandshake(messages: HandshakeLike[]): HandshakeLike[] };
  const original = proto.handleFragmentHandshake;
  proto.handleFragmentHandshake = function (this: { dtls: { flight: number } }, messages) {
    const handshakes = original.call(this, messages);
    if (!(this instanceof DtlsClient) || this.dtls.flight < FLIGHT_3) return handshakes;
    const kept = handshakes.filter((h) => h.msg_type !== HELLO_VERIFY_REQUEST);
    dtlsFixCounters.repeatedHelloVerifyRequests += handshakes.length - kept.length;
    return kept;
  };
}

ignoreRepeatedHelloVerifyRequests();
