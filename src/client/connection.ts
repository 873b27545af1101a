/**
 * One RTCPeerConnection between the broadcaster and one viewer, named by the broadcaster's
 * connection id (`cid`). Candidates are held until the description they belong to has been sent
 * (local) or applied (remote), so trickle ICE never races the offer/answer.
 */
import type { IceCandidate } from '../signaling/protocol.js';

export class Connection {
  readonly pc: RTCPeerConnection;
  readonly cid: string;
  /** The other end's server-assigned peer id. */
  readonly peer: string;
  readonly #sendCandidate: (candidate: IceCandidate | null) => void;
  #localSent = false;
  readonly #localQueue: (IceCandidate | null)[] = [];
  readonly #remoteQueue: (IceCandidate | null)[] = [];
  #closed = false;

  constructor(options: {
    cid: string;
    peer: string;
    config: RTCConfiguration;
    sendCandidate: (candidate: IceCandidate | null) => void;
  }) {
    this.cid = options.cid;
    this.peer = options.peer;
    this.#sendCandidate = options.sendCandidate;
    this.pc = new RTCPeerConnection(options.config);
    this.pc.onicecandidate = (event) => {
      const c = event.candidate ? (event.candidate.toJSON() as IceCandidate) : null;
      if (this.#localSent) this.#sendCandidate(c);
      else this.#localQueue.push(c);
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Call once the local offer/answer has gone out: queued candidates follow it. */
  localDescriptionSent(): void {
    this.#localSent = true;
    // A description sent after gathering completed already carries every candidate.
    if (this.pc.iceGatheringState === 'complete' && this.pc.localDescription?.sdp.includes('a=candidate:')) this.#localQueue.length = 0;
    for (const c of this.#localQueue.splice(0)) this.#sendCandidate(c);
  }

  /** Resolves once ICE gathering is complete, or after `maxMs`. */
  gathered(maxMs: number): Promise<void> {
    if (this.pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      const check = () => {
        if (this.pc.iceGatheringState === 'complete') done();
      };
      const timer = setTimeout(done, maxMs);
      this.pc.addEventListener('icegatheringstatechange', check);
    });
  }

  async applyRemote(description: RTCSessionDescriptionInit): Promise<void> {
    await this.pc.setRemoteDescription(description);
    for (const c of this.#remoteQueue.splice(0)) await this.#add(c);
  }

  async addRemoteCandidate(candidate: IceCandidate | null): Promise<void> {
    if (!this.pc.remoteDescription) this.#remoteQueue.push(candidate);
    else await this.#add(candidate);
  }

  async #add(candidate: IceCandidate | null): Promise<void> {
    try {
      await this.pc.addIceCandidate(candidate ?? undefined);
    } catch (err) {
      console.warn('lancast: candidate rejected', err);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.pc.onicecandidate = null;
    this.pc.close();
  }
}

export function newConnectionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  return btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, (c) => ({ '+': '-', '/': '_', '=': '' })[c]!);
}
