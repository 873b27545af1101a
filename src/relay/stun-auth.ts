/**
 * STUN binding requests to a relay leg must be authenticated before anything happens
 * (RFC 8445 §7.3, RFC 5389 §10.1.2). werift 0.24.4 does not check a request at all: it answers
 * every binding request with a success response, whatever its USERNAME and MESSAGE-INTEGRITY, lets
 * it settle an ICE role conflict, and makes a peer-reflexive candidate, a candidate pair and a
 * triggered check towards its sender. Anyone on the LAN who can see a leg's port (it is in every
 * check) could make the relay answer and send checks for them by the hundred.
 *
 * So every request goes through authenticate() first, and only one that passes reaches werift:
 * - no USERNAME, or one whose first part is not this leg's ufrag (current or from before an ICE
 *   restart): dropped without an answer;
 * - our ufrag without MESSAGE-INTEGRITY: 400; with a wrong one: 401 (neither carries integrity, as
 *   RFC 5389 says: we cannot know the sender's key). No candidate, pair or check is made.
 * Imported for its effect by ice.ts, as pc-config.ts is. Upstream report: docs/upstream/werift-stun-auth.md.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { classes, Connection, Message, parseMessage } from 'werift';

type Address = [string, number];
type RequestHandler = (msg: Message, addr: Address, data: Buffer) => void;

interface StunTransport {
  onRequestReceived: { subscribe(handler: RequestHandler): unknown };
  sendStun(message: Message, addr: Address): Promise<void>;
}

/** The credentials of one ICE agent (werift's Connection). */
export interface LocalCredentials {
  localUsername: string;
  localPassword: string;
  /** ufrag -> password of earlier generations (werift keeps them across ICE restarts). */
  userHistory: Record<string, string>;
}

export type Verdict = 'ok' | 'drop' | [code: 400 | 401, reason: string];

/** What to do with a STUN request `msg` (parsed from `data`) sent to the agent with `local`. */
export function authenticate(local: LocalCredentials, msg: Message, data: Buffer): Verdict {
  const username = msg.getAttributeValue('USERNAME') as unknown;
  if (typeof username !== 'string') return 'drop';
  // RFC 8445 §7.2.2: USERNAME is "<our ufrag>:<theirs>".
  const colon = username.indexOf(':');
  if (colon <= 0) return 'drop';
  const ufrag = username.slice(0, colon);
  const password = ufrag === local.localUsername ? local.localPassword : Object.hasOwn(local.userHistory, ufrag) ? local.userHistory[ufrag] : undefined;
  if (typeof password !== 'string') return 'drop';
  if (!msg.attributesKeys.includes('MESSAGE-INTEGRITY')) return [400, 'Bad Request'];
  if (!parseMessage(data, Buffer.from(password, 'utf8'))) return [401, 'Unauthorized'];
  return 'ok';
}

function turnAway(verdict: Exclude<Verdict, 'ok'>, msg: Message, addr: Address, transport: StunTransport): void {
  if (verdict === 'drop') return;
  const response = new Message(msg.messageMethod, classes.ERROR, msg.transactionId).setAttribute('ERROR-CODE', verdict).addFingerprint();
  transport.sendStun(response, addr).catch(() => undefined);
}

function weriftVersion(): string {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve('werift'));
    for (;;) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'werift') return pkg.version ?? 'unknown';
      } catch {
        // not here: look further up
      }
      if (dirname(dir) === dir) return 'unknown';
      dir = dirname(dir);
    }
  } catch {
    return 'unknown';
  }
}

/** Whether the patch is in place, and on which werift (tests check it against upgrades). */
export const stunAuthPatch = { applied: false, weriftVersion: weriftVersion(), reason: '' };

function patch(): void {
  const proto = Connection.prototype as unknown as { ensureProtocol(this: LocalCredentials, transport: StunTransport): void };
  const ensureProtocol = proto.ensureProtocol;
  // werift 0.24.4: ensureProtocol(protocol) subscribes the one handler that answers requests and
  // calls checkIncoming (candidates, pairs, triggered checks) on the transport's request event.
  const source = typeof ensureProtocol === 'function' ? ensureProtocol.toString() : '';
  if (!/protocol\.onRequestReceived\.subscribe\(\(msg, addr, data\) =>/.test(source) || !/this\.checkIncoming\(msg, addr, protocol\)/.test(source)) {
    stunAuthPatch.reason = `werift ${stunAuthPatch.weriftVersion}'s Connection.ensureProtocol is not the one this patch was written for (0.24.4)`;
    // Said at start-up: relay legs would answer unauthenticated STUN requests again.
    process.emitWarning(`${stunAuthPatch.reason}; STUN requests are not authenticated`);
    return;
  }
  proto.ensureProtocol = function (this: LocalCredentials, transport: StunTransport) {
    // werift answers any binding request, authenticated or not: hand its handler only those that are.
    const requests = transport.onRequestReceived;
    transport.onRequestReceived = {
      subscribe: (handler: RequestHandler) =>
        requests.subscribe((msg, addr, data) => {
          const verdict = authenticate(this, msg, data);
          if (verdict === 'ok') handler(msg, addr, data);
          else turnAway(verdict, msg, addr, transport);
        }),
    };
    try {
      ensureProtocol.call(this, transport);
    } finally {
      transport.onRequestReceived = requests;
    }
  };
  stunAuthPatch.applied = true;
}

patch();
