import { randomBytes } from 'node:crypto';
import type { ErrorCode, Role, ServerMessage } from './protocol.js';
import type { Room } from './room.js';

/** What the hub needs from a connection: a way to send, a way to close. */
export interface PeerLink {
  send(msg: ServerMessage): void;
  close(code: number, reason: string): void;
  /** The remote address, for logs. */
  readonly address: string;
}

/** Unguessable, never reused: 96 random bits. */
export function newPeerId(): string {
  return randomBytes(12).toString('base64url');
}

/** One signaling connection, known to the hub by a server-assigned id. */
export class Peer {
  readonly id = newPeerId();
  readonly link: PeerLink;
  role: Role | undefined;
  room: Room | undefined;

  constructor(link: PeerLink) {
    this.link = link;
  }

  send(msg: ServerMessage): void {
    this.link.send(msg);
  }

  error(code: ErrorCode, message: string, ref?: string): void {
    this.link.send({ type: 'error', code, message, ...(ref ? { ref } : {}) });
  }
}
