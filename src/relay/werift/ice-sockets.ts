/**
 * Typed view of the UDP sockets under one werift ICE agent, so the relay can read a publisher's
 * leg itself while nobody consumes its media (../ingress-gate.ts) and hand werift only what it
 * must see (STUN, DTLS, SRTCP) through the handler werift's socket would have called.
 */
import { Socket } from 'node:dgram';
import { candidatePriority } from 'werift';

type Address = [string, number];

/** werift's StunProtocol, the parts used: its transport's Node socket, and the handler that socket calls. */
interface WeriftProtocol {
  transport?: { socket?: unknown };
  datagramReceived?: (data: Buffer, addr: Address) => void;
}

/** werift's CandidatePair, the parts used: its far end, its socket, and the counters its getStats reports. */
interface WeriftPair {
  remoteAddr?: unknown;
  protocol?: WeriftProtocol;
  requestsSent?: unknown;
  consentRequestsSent?: unknown;
  responsesReceived?: unknown;
  rtt?: unknown;
  totalRoundTripTime?: unknown;
  roundTripTimeMeasurements?: unknown;
}

/** An ICE agent (werift's Connection) and its sockets, one per local candidate. */
export interface WeriftIceAgent {
  protocols: WeriftProtocol[];
  localUsername?: unknown;
  localPassword?: unknown;
  remoteUsername?: unknown;
  remotePassword?: unknown;
  iceControlling?: unknown;
  iceLite?: unknown;
  remoteIsLite?: unknown;
  tieBreaker?: unknown;
  state?: unknown;
  consentFresh?: unknown;
  queryConsent?: unknown;
  stopConsentLifecycle?: unknown;
  setState?: unknown;
  /** The selected pair, once there is one. */
  nominated?: WeriftPair;
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
  /** What sending our own checks there takes (undefined: the agent lacks it). */
  checks?: ConsentCheckCredentials;
}

/** What our own consent checks carry, as werift's buildRequest makes them. */
export interface ConsentCheckCredentials {
  /** USERNAME as we send it: their ufrag, ':', ours. */
  username: string;
  /** Their ICE password: the key of both MESSAGE-INTEGRITY attributes. */
  password: string;
  tieBreaker: bigint;
  priority: number;
}

/** The agent's credentials and selected far end, or why they are not there (no pair selected, a werift of another shape). */
export function consentCredentials(agent: WeriftIceAgent): ConsentCredentials | string {
  const { localUsername, localPassword, remoteUsername, iceControlling } = agent;
  const remote = agent.nominated?.remoteAddr;
  if (typeof localUsername !== 'string' || typeof localPassword !== 'string' || typeof remoteUsername !== 'string' || typeof iceControlling !== 'boolean') {
    return "werift's ICE agent does not hold its credentials and role where lancast reads them";
  }
  if (!Array.isArray(remote) || typeof remote[0] !== 'string' || typeof remote[1] !== 'number') return 'no candidate pair is selected';
  const { remotePassword, tieBreaker } = agent;
  const checks =
    typeof remotePassword === 'string' && typeof tieBreaker === 'bigint'
      ? { username: `${remoteUsername}:${localUsername}`, password: remotePassword, tieBreaker, priority: candidatePriority('prflx') }
      : undefined;
  return { username: `${localUsername}:${remoteUsername}`, password: localPassword, controlling: iceControlling, address: remote[0], port: remote[1], checks };
}

/** The agent's consent loop, taken from werift: what it must be told as its own loop would tell it. */
export interface ConsentLoop {
  /** The socket the selected pair sends from, or why there is none now (no pair, a closed agent). */
  socket(): Socket | string;
  /** A check went out. */
  sent(): void;
  /** An answer came, after `rttMs`: consent is fresh. */
  answered(rttMs: number): void;
  /** No answer for the consent timeout: the agent fails, as werift's own expiry fails it. */
  expire(): void;
  /** werift runs its own loop again (at once, when the agent is connected). */
  release(): void;
}

/** What werift 0.24.4's Connection must have for its consent loop to be taken and given back. */
function loopable(agent: WeriftIceAgent): agent is WeriftIceAgent & { queryConsent: () => void; stopConsentLifecycle: () => void; setState: (state: string) => void } {
  return (
    typeof agent.queryConsent === 'function' &&
    agent.queryConsent.length === 0 &&
    typeof agent.stopConsentLifecycle === 'function' &&
    typeof agent.setState === 'function' &&
    typeof agent.consentFresh === 'boolean' &&
    Object.prototype.hasOwnProperty.call(agent, 'queryConsent')
  );
}

/**
 * Stops werift's consent loop on the agent (its checks every 4-6 s, its 30 s expiry) so the relay
 * can run it (../consent-checks.ts); `restarted` is called whenever werift would have started its
 * loop again (a pair selected anew). Returns the loop, or why it cannot be taken (an ICE-lite
 * side, where werift sends no checks or nominates with them; a werift of another shape).
 */
export function takeConsentLoop(agent: WeriftIceAgent, restarted: () => void): ConsentLoop | string {
  if (!loopable(agent)) return "werift's ICE agent does not run its consent loop where lancast takes it";
  if (agent.iceLite !== false || agent.remoteIsLite === true) return 'an ICE-lite side: werift keeps its own consent loop';
  const own = agent.queryConsent;
  const fresh = () => {
    agent.stopConsentLifecycle();
    agent.consentFresh = true;
  };
  fresh();
  agent.queryConsent = () => {
    fresh();
    restarted();
  };
  let released = false;
  const pair = () => agent.nominated;
  return {
    socket() {
      if (agent.state === 'closed' || agent.state === 'failed') return 'the agent is closed';
      const socket = pair()?.protocol?.transport?.socket;
      return socket instanceof Socket ? socket : 'no candidate pair is selected';
    },
    sent() {
      const p = pair();
      if (p && typeof p.requestsSent === 'number' && typeof p.consentRequestsSent === 'number') {
        p.requestsSent++;
        p.consentRequestsSent++;
      }
    },
    answered(rttMs) {
      const p = pair();
      if (p && typeof p.responsesReceived === 'number' && typeof p.totalRoundTripTime === 'number' && typeof p.roundTripTimeMeasurements === 'number') {
        p.responsesReceived++;
        p.rtt = rttMs / 1000;
        p.totalRoundTripTime += rttMs / 1000;
        p.roundTripTimeMeasurements++;
      }
      agent.consentFresh = true;
      if (agent.state === 'disconnected') agent.setState('connected');
    },
    expire() {
      agent.consentFresh = false;
      if (agent.state !== 'closed' && agent.state !== 'failed') agent.setState('failed');
    },
    release() {
      if (released) return;
      released = true;
      agent.queryConsent = own;
      if ((agent.state === 'connected' || agent.state === 'completed') && agent.nominated) own();
    },
  };
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
