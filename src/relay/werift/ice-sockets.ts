/**
 * Typed view of the UDP sockets under one werift ICE agent, so the relay can read a publisher's
 * leg itself while nobody consumes its media (../ingress-gate.ts) and hand werift only what it
 * must see (STUN, DTLS, SRTCP) through the handler werift's socket would have called.
 */
import { Socket } from 'node:dgram';

type Address = [string, number];

/** werift's StunProtocol, the parts used: its transport's Node socket, and the handler that socket calls. */
interface WeriftProtocol {
  transport?: { socket?: unknown };
  datagramReceived?: (data: Buffer, addr: Address) => void;
}

/** An ICE agent (werift's Connection) and its sockets, one per local candidate. */
export interface WeriftIceAgent {
  protocols: WeriftProtocol[];
}

/** One of the agent's sockets, and how werift takes a datagram it received. */
export interface IceSocket {
  socket: Socket;
  receive: (data: Buffer, addr: Address) => void;
}

/** The agent's UDP sockets, or why they cannot be read from outside werift (a TCP or TURN candidate, a werift of another shape). */
export function iceSockets(agent: WeriftIceAgent): IceSocket[] | string {
  const out: IceSocket[] = [];
  for (const protocol of agent.protocols) {
    const socket = protocol.transport?.socket;
    const handler = protocol.datagramReceived;
    if (!(socket instanceof Socket)) return 'an ICE transport of the leg is not a UDP socket';
    if (typeof handler !== 'function' || handler.length !== 2) return "werift's StunProtocol.datagramReceived is not a function of (data, addr)";
    out.push({ socket, receive: (data, addr) => handler.call(protocol, data, addr) });
  }
  return out;
}
