/**
 * Four changes to werift's peer connections for a LAN; no PeerConfig option turns these behaviours
 * off, and each sits on the path of every viewer's first frame.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, RTCDtlsTransport, RTCPeerConnection } from 'werift';
import { replaceMethod, type PatchTarget, type WeriftPatch } from './patch.js';

/** DTLS records kept per ICE connection before its DTLS endpoint exists (a ClientHello or two). */
const EARLY_DTLS_RECORDS = 4;

/** werift's ICE agent (Connection), the parts these patches use. */
interface IceAgent {
  options: { stunServer?: unknown };
  stunServer: unknown;
  onData: { subscribe(fn: (buf: Buffer) => void): { unSubscribe(): void }; execute(buf: Buffer): void };
  iceLite: boolean;
  state: string;
  localCandidatesStart: boolean;
  localCandidatesEnd: boolean;
  remoteUsername?: string;
  remotePassword?: string;
  remoteCandidates: unknown[];
  earlyChecks: unknown[][];
  earlyChecksDone: boolean;
  checkList: { handle?: { resolve?: () => void } }[];
  checkListDone: boolean;
  checkListState: { get(): Promise<number> };
  pairRemoteCandidate(c: unknown): void;
  sortCheckList(): void;
  unfreezeInitial(): void;
  checkIncoming(...args: unknown[]): void;
  schedulingChecks(): boolean;
  queryConsent(): void;
  setState(state: string): void;
}
type GetCandidatePromises = (this: IceAgent, ...args: unknown[]) => unknown;

const connection = Connection.prototype;
const getCandidatePromises: PatchTarget = {
  name: 'Connection.prototype.getCandidatePromises',
  owner: connection,
  key: 'getCandidatePromises',
  arity: 1,
  // Reads the STUN server from the agent each time it gathers.
  source: [/const \{ stunServer, turnServer \} = this;/],
};

export const noImplicitStun: WeriftPatch = {
  name: 'no-implicit-stun',
  wrong: "with no STUN server configured, werift asks Google's public one (stun.l.google.com:19302) for every leg's candidates",
  upstream: 'docs/upstream/werift-implicit-stun.md',
  targets: [getCandidatePromises],
  apply() {
    replaceMethod<GetCandidatePromises>(this.name, getCandidatePromises, (original) =>
      function (this: IceAgent, ...args: unknown[]) {
        // werift fills in Google's STUN server when none was given; only one given counts.
        if (!this.options.stunServer) this.stunServer = undefined;
        return original.apply(this, args);
      },
    );
  },
};

/** DTLS records (RFC 7983: first byte 20-63) that reached a connection before DTLS started. */
const early = new WeakMap<object, { records: Buffer[]; stop: () => void }>();
/** Connections whose DTLS has started: nothing more to keep (an ICE restart gathers again). */
const started = new WeakSet<object>();

function keepEarlyDtls(agent: IceAgent): void {
  if (early.has(agent) || started.has(agent)) return;
  const records: Buffer[] = [];
  const sub = agent.onData.subscribe((buf) => {
    if (buf.length > 0 && buf[0] >= 20 && buf[0] <= 63 && records.length < EARLY_DTLS_RECORDS) records.push(Buffer.from(buf));
  });
  early.set(agent, { records, stop: () => sub.unSubscribe() });
}

interface DtlsTransport {
  iceTransport: { connection: IceAgent };
}
const dtlsStart: PatchTarget = {
  name: 'RTCDtlsTransport.prototype.start',
  owner: RTCDtlsTransport.prototype,
  key: 'start',
  arity: 0,
  // The server-role endpoint is made synchronously, inside start()'s promise executor.
  source: [/if \(this\.role === "server"\) \{\s*this\.dtls = new DtlsServer\(/],
};

export const keepEarlyDtlsRecords: WeriftPatch = {
  name: 'keep-early-dtls',
  wrong: 'werift drops DTLS records that arrive before its DTLS endpoint exists (the browser resends only ~50 ms later)',
  upstream: 'docs/upstream/werift-early-dtls.md',
  targets: [getCandidatePromises, dtlsStart],
  apply() {
    replaceMethod<GetCandidatePromises>(this.name, getCandidatePromises, (original) =>
      function (this: IceAgent, ...args: unknown[]) {
        // Gathering starts when the local description is set: from then on the other side may
        // send DTLS records; keep the first few until DTLS starts.
        keepEarlyDtls(this);
        return original.apply(this, args);
      },
    );
    replaceMethod<(this: DtlsTransport) => Promise<void>>(this.name, dtlsStart, (original) =>
      function (this: DtlsTransport) {
        // The DTLS endpoint (server role) is made synchronously inside start(): replay the
        // records that came earlier to it right after.
        const result = original.call(this);
        const agent = this.iceTransport.connection;
        started.add(agent);
        const kept = early.get(agent);
        if (kept) {
          early.delete(agent);
          kept.stop();
          for (const record of kept.records) agent.onData.execute(record);
        }
        return result;
      },
    );
  },
};

/** werift's ICE values for the check list's outcome (ice/src/iceBase.ts). */
const ICE_COMPLETED = 1;
const ICE_FAILED = 2;

/**
 * werift 0.24.4's Connection.connect() for a full (not lite) agent, the same steps in the same
 * order, except that the wait between two scheduled checks ends early once ICE has completed.
 */
async function connectFullAgent(this: IceAgent): Promise<void> {
  if (!this.localCandidatesEnd && !this.localCandidatesStart) throw new Error('Local candidates gathering was not performed');
  if (!this.remoteUsername || !this.remotePassword) throw new Error('Remote username or password is missing');
  for (const c of this.remoteCandidates) this.pairRemoteCandidate(c);
  this.sortCheckList();
  this.unfreezeInitial();
  for (const earlyCheck of this.earlyChecks) this.checkIncoming(...earlyCheck);
  this.earlyChecks = [];
  this.earlyChecksDone = true;
  for (;;) {
    if (this.state === 'closed') break;
    if (!this.schedulingChecks()) break;
    for (let waited = 0; waited < 20 && !this.checkListDone && this.state !== 'closed'; waited += 2) await sleep(2);
  }
  let res = ICE_FAILED;
  while (this.checkList.length > 0 && res === ICE_FAILED) res = await this.checkListState.get();
  for (const check of this.checkList) check.handle?.resolve?.();
  if (res !== ICE_COMPLETED) throw new Error('ICE negotiation failed');
  this.queryConsent();
  this.setState('connected');
}

const connect: PatchTarget = {
  name: 'Connection.prototype.connect',
  owner: connection,
  key: 'connect',
  arity: 0,
  // connectFullAgent is a copy of these steps: any change to them must be looked at.
  source: [
    /this\.earlyChecks = \[\];\s*this\.earlyChecksDone = true;/,
    /for \(; ; \) \{\s*if \(this\.state === "closed"\) break;\s*if \(!this\.schedulingChecks\(\)\) break;\s*await timers\.setTimeout\(20\);/,
    /this\.queryConsent\(\);\s*this\.setState\("connected"\);/,
  ],
};

export const iceDoneWhenNominated: WeriftPatch = {
  name: 'ice-done-when-nominated',
  wrong: "werift's ICE agent looks at a check's result only at its next 20 ms tick, so ICE never completes in under 20 ms",
  upstream: 'docs/upstream/werift-ice-check-pace.md',
  targets: [connect],
  apply() {
    replaceMethod<(this: IceAgent) => Promise<void>>(this.name, connect, (original) =>
      function (this: IceAgent) {
        return this.iceLite ? original.call(this) : connectFullAgent.call(this);
      },
    );
  },
};

interface AnsweringPc {
  dtlsTransports: { role: string; remoteParameters?: { role: string } }[];
}
const createAnswer: PatchTarget = {
  name: 'RTCPeerConnection.prototype.createAnswer',
  owner: RTCPeerConnection.prototype,
  key: 'createAnswer',
  arity: 0,
  // The answer's a=setup comes from the transports' role, read when the answer is built.
  source: [/this\.sdpManager\.buildAnswerSdp\(/],
};

export const passiveAnswer: WeriftPatch = {
  name: 'passive-answer',
  wrong: 'answering an a=setup:actpass offer, werift takes the DTLS client role and waits a fixed 100 ms before its ClientHello',
  upstream: 'docs/upstream/werift-passive-answer.md',
  targets: [createAnswer],
  apply() {
    replaceMethod<(this: AnsweringPc) => Promise<unknown>>(this.name, createAnswer, (original) =>
      function (this: AnsweringPc) {
        for (const transport of this.dtlsTransports) {
          // `auto` remotely is actpass; `server` (passive) leaves werift the client.
          if (transport.role === 'auto' && transport.remoteParameters?.role === 'auto') transport.role = 'server';
        }
        return original.call(this);
      },
    );
  },
};
