/**
 * The signaling protocol spoken on `/ws`: one schema. The server validates every inbound frame
 * against it; the browser client imports only its types (it checks a frame's `type`, not the schema).
 *
 * Flow, p2p: a client sends `join`; the server answers `welcome` (with its server-assigned id) or
 * `error`. When a viewer is in a room with a live broadcaster the server tells the broadcaster
 * `viewer-joined`; the broadcaster offers, the viewer answers, both trickle candidates. Every
 * offer/answer/candidate names the peer it is for (`to`) and the connection it belongs to (`cid`,
 * chosen by the offerer per RTCPeerConnection), so nothing can land on the wrong connection.
 *
 * Relay rooms: the media server is a peer named `relay`. The broadcaster offers to it (publish);
 * it offers to each viewer; `hangup` retires a connection once its replacement plays. With no
 * viewers for a few seconds the relay tells the broadcaster `pause` (stop sending), and un-pauses
 * it the moment one arrives; of a simulcast upload it names the `layers` no viewer wants.
 */
import { z } from 'zod';

/** The largest signaling frame accepted, in bytes. Larger frames close the socket (1009). */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Room names: letters and digits of any script, `-` and `_`, 1 to 64 characters. */
export const ROOM_NAME = /^[\p{L}\p{N}_-]{1,64}$/u;
export const RoomName = z.string().regex(ROOM_NAME, 'room names use letters, digits, - and _ (1-64)');

export const PeerId = z.string().min(1).max(64);
/** Connection id: the broadcaster's name for one RTCPeerConnection. */
export const ConnectionId = z.string().min(1).max(64);
const Sdp = z.string().min(1).max(32 * 1024);

export const Role = z.enum(['broadcaster', 'viewer']);
export type Role = z.infer<typeof Role>;

export const Mode = z.enum(['p2p', 'relay', 'auto']);
export type Mode = z.infer<typeof Mode>;

export const IceCandidate = z
  .object({
    candidate: z.string().max(1024),
    sdpMid: z.string().max(64).nullish(),
    sdpMLineIndex: z.number().int().min(0).max(64).nullish(),
    usernameFragment: z.string().max(256).nullish(),
  })
  .strip();
export type IceCandidate = z.infer<typeof IceCandidate>;

export const IceServer = z.object({
  urls: z.union([z.string(), z.array(z.string())]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
export type IceServer = z.infer<typeof IceServer>;

// ---- client -> server --------------------------------------------------------------------------

export const JoinMessage = z.object({
  type: z.literal('join'),
  role: Role,
  room: RoomName,
  /** The publish key; required for `broadcaster`. */
  key: z.string().max(256).optional(),
  /** The room's view password, when one is set. */
  password: z.string().max(256).optional(),
  /** A broadcaster's choice of media path for its room (default: the server's `--mode`). */
  mode: Mode.optional(),
  /** A broadcaster's password for its room's viewers (besides any `--view-password`). */
  viewPassword: z.string().min(1).max(256).optional(),
});

export const OfferMessage = z.object({ type: z.literal('offer'), to: PeerId, cid: ConnectionId, sdp: Sdp });
export const AnswerMessage = z.object({ type: z.literal('answer'), to: PeerId, cid: ConnectionId, sdp: Sdp });
export const CandidateMessage = z.object({
  type: z.literal('candidate'),
  to: PeerId,
  cid: ConnectionId,
  /** `null` marks the end of gathering. */
  candidate: IceCandidate.nullable(),
});
/** A viewer whose connection failed asks the broadcaster for a fresh one. */
export const RestartMessage = z.object({ type: z.literal('restart'), to: PeerId });
export const LeaveMessage = z.object({ type: z.literal('leave') });
/** Keepalive: browsers cannot see WebSocket pings, so clients ask, and a silent server is dead. */
export const PingMessage = z.object({ type: z.literal('ping') });
/** Either end is done with one connection (e.g. a viewer moved to the relay). */
export const HangupMessage = z.object({ type: z.literal('hangup'), to: PeerId, cid: ConnectionId });

/**
 * A relayed viewer's wish for its connection `cid`: a simulcast layer by its height, or `auto`
 * (the relay picks by the viewer's link; the default); and `shown`, how tall its player shows the
 * picture in device pixels (0: unknown), above which auto sends no larger layer than needed.
 */
export const QualityMessage = z.object({
  type: z.literal('quality'),
  to: PeerId,
  cid: ConnectionId,
  choice: z.union([z.literal('auto'), z.number().int().min(1).max(8192)]),
  shown: z.number().int().min(0).max(16384).optional(),
});

export const ClientMessage = z.discriminatedUnion('type', [
  JoinMessage,
  OfferMessage,
  AnswerMessage,
  CandidateMessage,
  RestartMessage,
  LeaveMessage,
  HangupMessage,
  PingMessage,
  QualityMessage,
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
export const CLIENT_MESSAGE_TYPES: readonly string[] = ClientMessage.options.map((o) => o.shape.type.value);

// ---- server -> client --------------------------------------------------------------------------

export const ErrorCode = z.enum([
  'bad-json',
  'bad-message',
  'unknown-type',
  'too-large',
  'bad-key',
  'bad-password',
  'bad-room',
  'not-joined',
  'already-joined',
  'no-such-peer',
  'not-allowed',
  'replaced',
  'legacy-disabled',
  'shutting-down',
  'room-full',
  'too-many-rooms',
  'rate-limited',
  'too-many-attempts',
  /** Raised by a viewer's own browser: it cannot decode the stream's codec. */
  'unsupported-codec',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const WelcomeMessage = z.object({
  type: z.literal('welcome'),
  id: PeerId,
  role: Role,
  room: RoomName,
  mode: Mode,
  live: z.boolean(),
  viewers: z.number().int().min(0),
  iceServers: z.array(IceServer),
});
export const ErrorMessage = z.object({
  type: z.literal('error'),
  code: ErrorCode,
  message: z.string(),
  /** The type of the message that caused it, when it could be read. */
  ref: z.string().optional(),
  /** For `too-many-attempts` and `rate-limited`: when to try again, in ms. */
  retryAfterMs: z.number().int().min(0).optional(),
});
/** Room status, sent to everyone in the room when it changes. */
export const RoomMessage = z.object({
  type: z.literal('room'),
  live: z.boolean(),
  viewers: z.number().int().min(0),
  mode: Mode,
  /** Why the room is in its mode, in a few words (shown on the broadcast page). */
  reason: z.string().optional(),
});
export const ViewerJoinedMessage = z.object({ type: z.literal('viewer-joined'), id: PeerId });
export const ViewerLeftMessage = z.object({ type: z.literal('viewer-left'), id: PeerId });
export const RelayedOffer = z.object({ type: z.literal('offer'), from: PeerId, cid: ConnectionId, sdp: Sdp });
export const RelayedAnswer = z.object({ type: z.literal('answer'), from: PeerId, cid: ConnectionId, sdp: Sdp });
export const RelayedCandidate = z.object({
  type: z.literal('candidate'),
  from: PeerId,
  cid: ConnectionId,
  candidate: IceCandidate.nullable(),
});
export const RelayedRestart = z.object({ type: z.literal('restart'), from: PeerId });
export const RelayedHangup = z.object({ type: z.literal('hangup'), from: PeerId, cid: ConnectionId });
export const PongMessage = z.object({ type: z.literal('pong') });
/**
 * From the relay to a broadcaster about its publishing connection `cid`: nobody is watching
 * (`paused: true`), so stop sending media until told `paused: false` (a viewer arrived).
 */
export const RelayedPause = z.object({ type: z.literal('pause'), from: PeerId, cid: ConnectionId, paused: z.boolean() });
/**
 * From the relay to a broadcaster about its simulcast publishing connection `cid`: stop sending
 * the encodings of these rids (no viewer wants them), and send all others. Each message replaces
 * the last; `paused: []` sends every layer. Apart from `pause`, which stops them all.
 */
export const RelayedLayers = z.object({ type: z.literal('layers'), from: PeerId, cid: ConnectionId, paused: z.array(z.string().min(1).max(32)).max(16) });

/**
 * From the relay to a viewer about its connection `cid`: the heights of the broadcast's simulcast
 * layers (lowest first), the one it is sent (-1: none yet), and why: the viewer chose it
 * (`manual`), it is the best there is (`auto`), the viewer's link holds it back (`link`), or a
 * larger one would not show any sharper in the viewer's player (`size`).
 */
export const RelayedQuality = z.object({
  type: z.literal('quality'),
  from: PeerId,
  cid: ConnectionId,
  layers: z.array(z.number().int().min(0)),
  height: z.number().int().min(-1),
  reason: z.enum(['manual', 'auto', 'link', 'size']),
});

export const ServerMessage = z.discriminatedUnion('type', [
  WelcomeMessage,
  ErrorMessage,
  RoomMessage,
  ViewerJoinedMessage,
  ViewerLeftMessage,
  RelayedOffer,
  RelayedAnswer,
  RelayedCandidate,
  RelayedRestart,
  RelayedHangup,
  RelayedPause,
  RelayedLayers,
  RelayedQuality,
  PongMessage,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
export type WelcomeMessage = z.infer<typeof WelcomeMessage>;
export type RoomMessage = z.infer<typeof RoomMessage>;
export type ErrorMessage = z.infer<typeof ErrorMessage>;

/** WebSocket close codes lancast uses, besides the standard 1000/1001/1009. */
export const CloseCode = {
  /** Policy violation: the client broke the protocol or was refused. */
  refused: 4003,
  /** Another broadcaster with the key took over the room. */
  replaced: 4009,
} as const;

export type ParseResult =
  | { ok: true; message: ClientMessage }
  | { ok: false; code: ErrorCode; message: string; ref?: string };

/** Parse and validate one inbound text frame. Never throws. */
export function parseClientMessage(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'bad-json', message: 'message is not valid JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, code: 'bad-message', message: 'message must be a JSON object' };
  }
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string') {
    return { ok: false, code: 'bad-message', message: 'message has no "type"' };
  }
  const ref = type.slice(0, 32);
  if (!CLIENT_MESSAGE_TYPES.includes(type)) {
    return { ok: false, code: 'unknown-type', message: `unknown message type "${ref}"`, ref };
  }
  const parsed = ClientMessage.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'message';
    return { ok: false, code: 'bad-message', message: `${where}: ${issue?.message ?? 'invalid'}`, ref };
  }
  return { ok: true, message: parsed.data };
}
