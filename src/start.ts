/**
 * Starting lancast once the flags are parsed: the server, the banner, clean stops on signals.
 * Kept apart from cli.ts so `lancast --help` and `--version` answer without loading the server,
 * werift and the rest (esbuild puts this module in its own chunk).
 */
import qrcode from 'qrcode-terminal';
import type { Config } from './config.js';
import { createLogger } from './log.js';
import { egressImplementation } from './relay/egress.js';
import { installWeriftPatches } from './relay/werift/index.js';
import { startServer, type RunningServer } from './server/server.js';

function qr(text: string): Promise<string> {
  return new Promise((resolve) => qrcode.generate(text, { small: true }, resolve));
}

export async function banner(config: Config, server: RunningServer, version: string): Promise<string> {
  const room = 'main';
  const key = encodeURIComponent(server.publishKey);
  const hostFor = (a: string) => (a.includes(':') ? `[${a}]` : a);
  const base = (scheme: string, a: string) => `${scheme}://${hostFor(a)}:${server.port}`;
  const first = server.addresses[0];
  const lines = [
    '',
    `  lancast ${version} is live on port ${server.port} (http and https on the same port)`,
    '',
    '  Broadcast from this machine:',
    `    http://localhost:${server.port}/broadcast/${room}?key=${key}`,
    '  Broadcast from a phone or another computer (accept the self-signed certificate once):',
    ...server.addresses.map((a) => `    ${base('https', a)}/broadcast/${room}?key=${key}`),
    '',
    '  Watch (any browser on the network):',
    ...server.addresses.map((a) => `    ${base('http', a)}/watch/${room}`),
    `  Lobby with every live room: ${base('http', first)}/`,
    '',
    `  Publish key: ${server.publishKey}${server.publishKeyGenerated ? '   (generated; kept in ' + config.dataDir + ', or set --publish-key)' : ''}`,
    ...(config.viewPassword ? ['  Viewers need the view password.'] : []),
    `  Mode: ${config.mode}${config.mode === 'auto' ? ` (peer to peer, relay past ${config.relayThreshold} viewers)` : ''}${config.legacy ? ' · legacy seed protocol on' : ''}`,
    `  Relay: ${config.relayWorkers > 0 ? `${config.relayWorkers} worker thread${config.relayWorkers === 1 ? '' : 's'}` : 'main thread'}, ${egressImplementation.name === 'native' ? 'native forwarding' : `TypeScript forwarding (native path unavailable: ${egressImplementation.reason})`}`,
    `  WHIP ingest (OBS, GStreamer): ${base('http', first)}/whip/${room}  with  Authorization: Bearer <publish key>`,
    `  Certificate: ${server.tls.path}${server.tls.source === 'generated' ? ' (new, self-signed)' : ''}`,
    '',
  ].filter((l, i, all) => l !== '' || all[i - 1] !== '');
  if (config.qr) lines.push('  Scan to watch:', (await qr(`${base('http', first)}/watch/${room}`)).replace(/^/gm, '  '));
  return lines.join('\n');
}

export async function run(config: Config, version: string): Promise<void> {
  const logger = createLogger(config);
  let server: RunningServer;
  try {
    // Refuses a werift its patches were not written for, before any peer connection exists.
    installWeriftPatches();
    server = await startServer(config, logger, version);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'EADDRINUSE' ? `port ${config.port} is in use; pick another with --port` :
      e.code === 'EACCES' ? `no permission to listen on port ${config.port}` :
      e.code === 'EADDRNOTAVAIL' ? `this machine has no address ${config.host}` : e.message;
    process.stderr.write(`lancast: cannot start: ${why}\n`);
    process.exit(1);
  }
  process.stdout.write(`${await banner(config, server, version)}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // Never hang: whatever is still open after 2.5 s is dropped.
    setTimeout(() => process.exit(0), 2_500).unref();
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
