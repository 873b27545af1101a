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
  localUsername?: unknown;
  localPassword?: unknown;
  remoteUsername?: unknown;
  iceControlling?: unknown;
  /** The selected pair, once there is one: its far end. */
  nominated?: { remoteAddr?: unknown };
}

/** What answering the agent's consent checks takes: who sends them, and how they are signed. */
export interface ConsentCredentials {
  /** USERNAME as the far end sends it: our ufrag, ':', theirs. */
  username: string;
  /** Our ICE password: the key of both MESSAGE-INTEGRITY attributes. */
  password: string;
  controlling: boolean;
  /** The selected pair's far end. */
  address: string;
  port: number;
}

/** The agent's credentials and selected far end, or why they are not there (no pair selected, a werift of another shape). */
export function consentCredentials(agent: WeriftIceAgent): ConsentCredentials | string {
  const { localUsername, localPassword, remoteUsername, iceControlling } = agent;
  const remote = agent.nominated?.remoteAddr;
  if (typeof localUsername !== 'string' || typeof localPassword !== 'string' || typeof remoteUsername !== 'string' || typeof iceControlling !== 'boolean') {
    return "werift's ICE agent does not hold its credentials and role where lancast reads them";
  }
  if (!Array.isArray(remote) || typeof remote[0] !== 'string' || typeof remote[1] !== 'number') return 'no candidate pair is selected';
  return { username: `${localUsername}:${remoteUsername}`, password: localPassword, controlling: iceControlling, address: remote[0], port: remote[1] };
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
