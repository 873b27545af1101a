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
 */
import { classes, Connection, Message, parseMessage } from 'werift';
import { replaceMethod, type PatchTarget, type WeriftPatch } from './patch.js';

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

const ensureProtocol: PatchTarget = {
  name: 'Connection.prototype.ensureProtocol',
  owner: Connection.prototype,
  key: 'ensureProtocol',
  arity: 1,
  // ensureProtocol(protocol) subscribes the one handler that answers requests and calls
  // checkIncoming (candidates, pairs, triggered checks) on the transport's request event.
  source: [/protocol\.onRequestReceived\.subscribe\(\(msg, addr, data\) =>/, /this\.checkIncoming\(msg, addr, protocol\)/],
};

export const stunAuthentication: WeriftPatch = {
  name: 'stun-authentication',
  wrong: 'werift answers every STUN binding request with a success and a triggered check, without checking USERNAME or MESSAGE-INTEGRITY',
  upstream: 'docs/upstream/werift-stun-auth.md',
  targets: [ensureProtocol],
  apply() {
    replaceMethod<(this: LocalCredentials, transport: StunTransport) => void>(this.name, ensureProtocol, (original) =>
      function (this: LocalCredentials, transport: StunTransport) {
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
          original.call(this, transport);
        } finally {
          transport.onRequestReceived = requests;
        }
      },
    );
  },
};
