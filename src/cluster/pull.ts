/**
 * The edge's end of a pull: ask the origin (or whichever node it sends us to) for the room, and
 * publish what it offers into this node's relay as if a WHIP broadcaster had. The origin's relay
 * and ours then speak WebRTC directly: one upstream per room, keyframe requests and
 * retransmissions through the hop as for any viewer, nothing re-encoded.
 *
 * The wire, server to server, with `Authorization: Bearer <cluster secret>`:
 *   POST   /cluster/pull/<room>        -> 201, Location, the relay's SDP offer (or 307 elsewhere)
 *   POST   <Location>  (the answer)    -> 204
 *   DELETE <Location>                  -> 200, the origin stops sending
 */

/** How many nodes a pull may be sent on to before giving up (each overloaded node names another). */
const MAX_HOPS = 4;
const TIMEOUT_MS = 20_000;

export class PullError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface Offered {
  /** The node that will send (its URL origin). */
  source: string;
  /** Where to send the answer, and DELETE to stop. */
  location: string;
  offer: string;
}

/** An offer for `room` from `originUrl` or the node it redirects to. */
export async function requestPull(originUrl: string, room: string, secret: string, nodeId: string): Promise<Offered> {
  let url = `${originUrl}/cluster/pull/${encodeURIComponent(room)}`;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'x-lancast-node': nodeId },
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const location = res.headers.get('location');
    if (res.status === 307 && location) {
      await res.body?.cancel();
      url = new URL(location, url).href;
      continue;
    }
    const text = await res.text();
    if (res.status !== 201 || !location) throw new PullError(res.status, `${new URL(url).origin} refused the pull: ${res.status} ${text.trim()}`);
    return { source: new URL(url).origin, location: new URL(location, url).href, offer: text };
  }
  throw new PullError(508, `the pull of "${room}" was sent on more than ${MAX_HOPS} times`);
}

export async function sendAnswer(offered: Offered, answer: string, secret: string): Promise<void> {
  const res = await fetch(offered.location, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/sdp' },
    body: answer,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  if (res.status !== 204) throw new PullError(res.status, `${offered.source} refused the answer: ${res.status} ${text.trim()}`);
}

/** Best effort: the origin also notices a silent leg by itself. */
export async function endPull(offered: Offered, secret: string): Promise<void> {
  await fetch(offered.location, { method: 'DELETE', headers: { authorization: `Bearer ${secret}` }, signal: AbortSignal.timeout(3_000) })
    .then((res) => res.body?.cancel())
    .catch(() => undefined);
}
