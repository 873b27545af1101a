/** What WHIP and WHEP share: the SDP body parser, bearer tokens, CORS, methods and short text errors. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Verdict } from '../signaling/hub.js';
import { ROOM_NAME } from '../signaling/protocol.js';
import { sdpProblem } from '../signaling/sdp-check.js';

export const SDP_MAX_BYTES = 64 * 1024;

/** Accept every body as text in this scope, so a wrong type gets our 415, not a generic one. */
export function acceptSdpBodies(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit: SDP_MAX_BYTES }, (_req, body, done) => done(null, body));
}

/**
 * Every answer of a WHIP/WHEP scope, errors and preflights included, carries CORS headers: RFC 9725
 * expects browser clients, and a player on another origin that cannot read its DELETE's answer
 * gets a network error and leaves its session to linger until the relay notices the silence.
 */
export function corsEverywhere(scope: FastifyInstance): void {
  scope.addHook('onSend', async (_req, reply, payload) => {
    reply
      .header('access-control-allow-origin', '*')
      .header('access-control-expose-headers', 'Location, ETag, Link, Accept-Post, Retry-After, WWW-Authenticate')
      .header('access-control-allow-headers', 'Authorization, Content-Type, If-Match')
      .header('access-control-allow-methods', 'OPTIONS, POST, DELETE, PATCH')
      .header('access-control-max-age', '600');
    return payload;
  });
}

export function fail(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('text/plain; charset=utf-8').send(`${message}\n`);
}

export function bearer(req: FastifyRequest): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
}

/** Checks every WHIP/WHEP POST shares; returns the SDP offer, or undefined after replying. */
export function readOffer(req: FastifyRequest<{ Params: { room: string } }>, reply: FastifyReply): string | undefined {
  if (!ROOM_NAME.test(req.params.room)) {
    fail(reply, 400, 'room names use letters, digits, - and _ (1-64 characters)');
    return undefined;
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/sdp') {
    fail(reply, 415, `the body must be an SDP offer with Content-Type: application/sdp, not "${type || 'none'}"`);
    return undefined;
  }
  const sdp = typeof req.body === 'string' ? req.body : '';
  if (!/^v=0\r?\n/.test(sdp) || !/^m=(audio|video) /m.test(sdp)) {
    fail(reply, 400, 'the body is not an SDP offer with an audio or video section');
    return undefined;
  }
  const problem = sdpProblem(sdp);
  if (problem) {
    fail(reply, 400, problem);
    return undefined;
  }
  return sdp;
}

export function answer(reply: FastifyReply, location: string, sdp: string): FastifyReply {
  return reply.code(201).header('location', location).type('application/sdp').send(sdp);
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/**
 * `path` answers preflight (OPTIONS) and 405 with `Allow` for every method it does not serve, so
 * no method reaches the server's 404 page, which carries no CORS headers.
 */
export function resource(scope: FastifyInstance, path: string, served: (typeof METHODS)[number][]): void {
  const allow = ['OPTIONS', ...served].join(', ');
  scope.options(path, (_req, reply) => {
    if (served.includes('POST')) reply.header('accept-post', 'application/sdp');
    return reply.code(204).header('allow', allow).send();
  });
  scope.route({
    method: METHODS.filter((m) => !served.includes(m)),
    url: path,
    handler: (req, reply) =>
      fail(
        reply.header('allow', allow),
        405,
        req.method === 'PATCH' ? 'trickle ICE is not supported: send all candidates in the offer' : `${req.method} is not allowed here (allowed: ${allow})`,
      ),
  });
}

/** 401 for a wrong secret; 429 with Retry-After when the address must wait. */
export function refuse(reply: FastifyReply, verdict: Extract<Verdict, { ok: false }>, message: string): FastifyReply {
  if (verdict.code === 'too-many-attempts') {
    const seconds = Math.ceil(verdict.retryAfterMs / 1000);
    reply.header('retry-after', String(seconds));
    return fail(reply, 429, `too many wrong attempts from your address; try again in ${seconds} s`);
  }
  reply.header('www-authenticate', 'Bearer realm="lancast"');
  return fail(reply, 401, message);
}
