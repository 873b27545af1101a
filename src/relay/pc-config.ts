/**
 * werift, as the relay needs it on a LAN. Two behaviours of werift 0.24 sit on the path of every
 * viewer's first frame, and no PeerConfig option turns them off, so this module adjusts them (as
 * fast-ecdh.ts does the key exchange). It is imported for its effect by ice.ts, which every module
 * that makes relay peer connections uses, in the main thread and in relay workers alike.
 *
 * 1. With no STUN server configured, werift queries Google's public one
 *    (stun.l.google.com:19302) for every leg's candidates: a DNS lookup and a UDP exchange with an
 *    outside address on a LAN product, and the leg's offer waits for it (~30 ms when the lookup
 *    fails at once; up to the 3 s gathering limit when DNS is slow or unreachable). Only a STUN
 *    server the user named (`--ice-server`) is queried now.
 * 2. The browser's ICE is done before werift's: it checks the relay's candidates as soon as it has
 *    the offer (werift answers those checks at once), so its DTLS ClientHello arrives while werift
 *    still waits for the answer or runs its own checks. werift drops DTLS records that come before
 *    its DTLS endpoint exists, and the browser resends only ~50 ms later (then 100, 200 ms...).
 *    Those early records are now kept (a few per connection) and handed to the DTLS endpoint as
 *    soon as werift makes it.
 * 3. werift's ICE agent starts one check per 20 ms and looks at the result only at its next tick,
 *    so its ICE is never done in less than 20 ms even when the first check (on a LAN, the only
 *    one) came back in 1 ms. It now stops waiting as soon as a pair is nominated; the pace of new
 *    checks is unchanged.
 * 4. Answering an offer (WHEP players, publishers), werift takes the DTLS client role and waits a
 *    fixed 100 ms before its ClientHello. When the offer lets either side be the client
 *    (`a=setup:actpass`), werift now answers `passive`: the browser starts DTLS as soon as its ICE
 *    is up (RFC 5763 allows either answer).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, RTCDtlsTransport, RTCPeerConnection } from 'werift';

/** DTLS records kept per ICE connection before its DTLS endpoint exists (a ClientHello or two). */
const EARLY_DTLS_RECORDS = 4;

interface PatchedConnection {
  options: { stunServer?: unknown };
  stunServer: unknown;
  onData: { subscribe(fn: (buf: Buffer) => void): { unSubscribe(): void }; execute(buf: Buffer): void };
}

/** DTLS records (RFC 7983: first byte 20-63) that reached a connection before DTLS started. */
const early = new WeakMap<object, { records: Buffer[]; stop: () => void }>();
/** Connections whose DTLS has started: nothing more to keep (an ICE restart gathers again). */
const started = new WeakSet<object>();

function keepEarlyDtls(connection: PatchedConnection): void {
  if (early.has(connection) || started.has(connection)) return;
  const records: Buffer[] = [];
  const sub = connection.onData.subscribe((buf) => {
    if (buf.length > 0 && buf[0]! >= 20 && buf[0]! <= 63 && records.length < EARLY_DTLS_RECORDS) records.push(Buffer.from(buf));
  });
  early.set(connection, { records, stop: () => sub.unSubscribe() });
}

/** werift's ICE values for the check list's outcome (ice/src/iceBase.ts). */
const ICE_COMPLETED = 1;
const ICE_FAILED = 2;

interface IceAgent {
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

let patched = false;
export function patchWerift(): void {
  if (patched) return;
  patched = true;

  const proto = Connection.prototype as unknown as {
    getCandidatePromises(this: PatchedConnection, ...args: unknown[]): unknown;
  };
  const getCandidatePromises = proto.getCandidatePromises;
  proto.getCandidatePromises = function (this: PatchedConnection, ...args: unknown[]) {
    // werift fills in Google's STUN server when none was given; only one given counts.
    if (!this.options.stunServer) this.stunServer = undefined;
    // Gathering starts when the local description is set: from then on the other side may
    // send DTLS records; keep the first few until DTLS starts.
    keepEarlyDtls(this);
    return getCandidatePromises.apply(this, args);
  };

  const iceProto = Connection.prototype as unknown as { connect(this: IceAgent): Promise<void> };
  const connect = iceProto.connect;
  // Only over the version this copy was made from (package.json pins werift 0.24.4).
  if (/for \(; ; \) \{\s*if \(this\.state === "closed"\) break;\s*if \(!this\.schedulingChecks\(\)\) break;\s*await timers\.setTimeout\(20\);/.test(connect.toString())) {
    iceProto.connect = function (this: IceAgent) {
      return this.iceLite ? connect.call(this) : connectFullAgent.call(this);
    };
  }

  const pcProto = RTCPeerConnection.prototype as unknown as {
    createAnswer(this: { dtlsTransports: { role: string; remoteParameters?: { role: string } }[] }): Promise<unknown>;
  };
  const createAnswer = pcProto.createAnswer;
  pcProto.createAnswer = function (this: { dtlsTransports: { role: string; remoteParameters?: { role: string } }[] }) {
    for (const transport of this.dtlsTransports) {
      // `auto` remotely is actpass; `server` (passive) leaves werift the client.
      if (transport.role === 'auto' && transport.remoteParameters?.role === 'auto') transport.role = 'server';
    }
    return createAnswer.call(this);
  };

  const dtlsProto = RTCDtlsTransport.prototype as unknown as {
    start(this: { iceTransport: { connection: PatchedConnection } }): Promise<void>;
  };
  const start = dtlsProto.start;
  dtlsProto.start = function (this: { iceTransport: { connection: PatchedConnection } }) {
    // The DTLS endpoint (server role) is made synchronously inside start(): replay the records
    // that came earlier to it right after.
    const result = start.call(this);
    const connection = this.iceTransport.connection;
    started.add(connection);
    const kept = early.get(connection);
    if (kept) {
      early.delete(connection);
      kept.stop();
      for (const record of kept.records) connection.onData.execute(record);
    }
    return result;
  };
}

patchWerift();
