/**
 * Recording over HTTP, all behind the publish key (`Authorization: Bearer <key>`, wrong keys
 * rate-limited per address as for WHIP):
 *   GET|POST|DELETE /api/rooms/<room>/recording   status, start, stop
 *   GET /api/recordings                           the files (JSON), each with a download URL
 *   GET|DELETE /api/recordings/<file>             the file (HTTP ranges: a player can seek), delete
 *   GET /recordings                               the page (asks for the key, then lists)
 * A browser cannot put a header on a <video src> or a download link: the list gives each file a
 * URL with a token (an HMAC of the file name and an expiry under a secret of this process), which
 * opens that one file for a few hours, and only as long as this process runs.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { recordingCounters, type Recordings } from '../relay/recorder/recordings.js';
import type { Hub } from '../signaling/hub.js';
import { ROOM_NAME } from '../signaling/protocol.js';
import { recordingListSchema, recordingStatusSchema } from './schemas.js';
import { recordingsPage } from '../web/recordings-page.js';
import { parseAcceptLanguage, pickLang } from '../web/strings.js';
import { bearer, fail, refuse } from './http-media.js';

/** How long a download URL from the list stays good. */
const TOKEN_LIFETIME_S = 6 * 3600;

export function registerRecordingMetrics(registry: Registry, recordings: Recordings): void {
  new Gauge({ name: 'lancast_recordings_active', help: 'Files being recorded now', registers: [registry], collect() { this.set(recordings.active); } });
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
  counter('lancast_recording_bytes_written_total', 'Bytes written to recording files', () => recordingCounters.bytesWritten);
  counter('lancast_recording_errors_total', 'Recordings stopped by an error (a full disk...)', () => recordingCounters.errors);
}

export function recordingRoutes(hub: Hub, recordings: Recordings, publishKey: string) {
  const secret = randomBytes(32);
  const sign = (file: string, expires: number) => createHmac('sha256', secret).update(`${file}\n${expires}`).digest('base64url');
  const tokenFor = (file: string) => {
    const expires = Math.floor(Date.now() / 1000) + TOKEN_LIFETIME_S;
    return `${expires}.${sign(file, expires)}`;
  };
  const tokenOk = (file: string, token: string | undefined) => {
    const [expiresText, mac] = (token ?? '').split('.');
    const expires = Number(expiresText);
    if (!mac || !Number.isInteger(expires) || expires < Date.now() / 1000) return false;
    const want = Buffer.from(sign(file, expires));
    const got = Buffer.from(mac);
    return want.length === got.length && timingSafeEqual(want, got);
  };

  /** The key, or a refusal sent (401, or 429 after too many wrong ones). */
  const authorized = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const verdict = hub.checkSecret(req.ip, bearer(req), [publishKey]);
    if (verdict.ok) return true;
    refuse(reply, verdict, 'recordings need the publish key: send Authorization: Bearer <publish key>');
    return false;
  };

  return async (scope: FastifyInstance) => {
    scope.get('/recordings', (req, reply) =>
      reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(recordingsPage(pickLang(parseAcceptLanguage(req.headers['accept-language'])))));

    scope.route<{ Params: { room: string } }>({
      method: ['GET', 'POST', 'DELETE'],
      url: '/api/rooms/:room/recording',
      schema: recordingStatusSchema,
      handler: async (req, reply) => {
        if (!authorized(req, reply)) return reply;
        const { room } = req.params;
        if (!ROOM_NAME.test(room)) return fail(reply, 400, 'room names use letters, digits, - and _ (1-64 characters)');
        if (req.method === 'POST') return reply.code(201).send(recordings.start(room));
        const status = req.method === 'DELETE' ? await recordings.stop(room) : recordings.status(room);
        if (!status) return fail(reply, 404, `room "${room}" is not being recorded`);
        return status;
      },
    });

    scope.get('/api/recordings', { schema: recordingListSchema }, async (req, reply) => {
      if (!authorized(req, reply)) return reply;
      const files = await recordings.list();
      return { recordings: files.map((f) => ({ ...f, url: `/api/recordings/${encodeURIComponent(f.file)}?token=${tokenFor(f.file)}` })) };
    });

    scope.get<{ Params: { file: string }; Querystring: { token?: string; download?: string } }>('/api/recordings/:file', async (req, reply) => {
      const { file } = req.params;
      if (!tokenOk(file, req.query.token) && !authorized(req, reply)) return reply;
      const path = recordings.path(file);
      const st = path ? await stat(path).catch(() => undefined) : undefined;
      if (!path || !st?.isFile()) return fail(reply, 404, 'no such recording');
      reply
        .header('accept-ranges', 'bytes')
        .header('cache-control', 'no-store')
        .type(file.endsWith('.mp4') ? 'video/mp4' : 'video/webm');
      if (req.query.download !== undefined) {
        // Room names may be in any script: an ASCII fallback, and the real name per RFC 6266/5987.
        const ascii = file.replace(/[^\x20-\x7e]|["\\]/g, '_');
        reply.header('content-disposition', `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(file)}`);
      }
      const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      if (!range || (range[1] === '' && range[2] === '')) return reply.header('content-length', String(st.size)).send(createReadStream(path));
      const start = range[1] === '' ? Math.max(0, st.size - Number(range[2])) : Number(range[1]);
      const end = range[1] === '' || range[2] === '' ? st.size - 1 : Math.min(Number(range[2]), st.size - 1);
      if (start > end || start >= st.size) {
        return reply.code(416).header('content-range', `bytes */${st.size}`).send();
      }
      return reply
        .code(206)
        .header('content-range', `bytes ${start}-${end}/${st.size}`)
        .header('content-length', String(end - start + 1))
        .send(createReadStream(path, { start, end }));
    });

    scope.delete<{ Params: { file: string } }>('/api/recordings/:file', async (req, reply) => {
      if (!authorized(req, reply)) return reply;
      const result = await recordings.remove(req.params.file);
      if (result === 'busy') return fail(reply, 409, 'this file is being recorded: stop the recording first');
      if (result === 'missing') return fail(reply, 404, 'no such recording');
      return reply.code(204).send();
    });
  };
}
