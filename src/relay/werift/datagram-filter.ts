/**
 * Typed view of the ICE sockets under one werift DTLS transport, so the relay can drop a
 * publisher's datagrams as they arrive (../ingress-gate.ts), before werift tries each as STUN,
 * hands it to ICE, demultiplexes DTLS from SRTP, decrypts, parses and routes it. A per-instance
 * wrap of each socket's StunProtocol, put in place only while a filter is set: every other leg,
 * and this one while it has no filter, runs werift's own method untouched.
 */
import { StunProtocol } from 'werift';

type Address = [string, number];
type Receive = (data: Buffer, addr: Address) => void;

/** werift's StunProtocol, the parts the filter touches: its socket calls `this.datagramReceived`. */
interface WeriftSocket {
  datagramReceived: Receive;
}

/** An ICE agent (werift's Connection) and its sockets, one per local candidate. */
export interface WeriftIceAgent {
  protocols: WeriftSocket[];
}

/**
 * What the wrap relies on, checked once: the socket's handler calls `this.datagramReceived`, so
 * an own property of that name on the instance is what runs; and werift's method takes
 * (data, addr). A different werift leaves the filter off (the caller is told), not half on.
 */
function shapeProblem(): string | undefined {
  const method = (StunProtocol.prototype as unknown as Partial<WeriftSocket>).datagramReceived;
  if (typeof method !== 'function' || method.length !== 2) return 'StunProtocol.prototype.datagramReceived is not a function of (data, addr)';
  if (!/this\.datagramReceived\(data, addr\)/.test(StunProtocol.toString())) return "StunProtocol's socket handler no longer calls this.datagramReceived(data, addr)";
  return undefined;
}
const problem = shapeProblem();

/** The filters in place, by socket. */
const filtered = new WeakSet<WeriftSocket>();

/**
 * From now on every datagram the agent's sockets receive goes through `drop` first: true drops
 * it before werift sees it. `undefined` takes the filter away. Returns why it cannot, if it cannot.
 */
export function filterDatagrams(agent: WeriftIceAgent, drop: ((datagram: Buffer) => boolean) | undefined): string | undefined {
  if (problem) return problem;
  for (const socket of agent.protocols) {
    if (filtered.has(socket)) {
      // The prototype's method shows through again.
      delete (socket as Partial<WeriftSocket>).datagramReceived;
      filtered.delete(socket);
    }
    if (!drop) continue;
    const original = socket.datagramReceived;
    socket.datagramReceived = function (this: WeriftSocket, data: Buffer, addr: Address) {
      if (!drop(data)) original.call(this, data, addr);
    };
    filtered.add(socket);
  }
  return undefined;
}
