/**
 * Flags -> config. Every flag has a `LANCAST_*` environment twin; a flag beats its twin.
 * One table below is the parser, the validation and the `--help` text at once.
 */
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { Mode, type IceServer } from './signaling/protocol.js';

export interface Config {
  port: number;
  host: string;
  /** Undefined: one is generated on first run and kept in the data directory. */
  publishKey: string | undefined;
  viewPassword: string | undefined;
  mode: Mode;
  relayThreshold: number;
  /** Worker threads that carry the relay's viewers (0: the main thread does). */
  relayWorkers: number;
  /** Seconds a relayed room may go unwatched before its broadcaster is asked to pause (0: never). */
  pauseAfter: number;
  /** Seconds a simulcast layer of a broadcast page may go unwanted before it is paused (dynacast; 0: never). */
  layerPauseAfter: number;
  cert: string | undefined;
  key: string | undefined;
  dataDir: string;
  iceServers: IceServer[];
  legacy: boolean;
  /** Record every broadcast (`--record`), into `recordingsDir`. */
  record: boolean;
  recordingsDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** `auto`: readable lines on a terminal, pino's JSON lines otherwise. */
  logFormat: 'pretty' | 'json' | 'auto';
  /** Print the QR code of the watch URL in the banner. */
  qr: boolean;
  limits: Limits;
  /** Set with `--redis`: this node is one of several that act as one service (src/cluster). */
  cluster: ClusterConfig | undefined;
}

export interface ClusterConfig {
  /** redis://host:port/db */
  redis: string;
  /** How other nodes and browsers reach this node; undefined: http://<first LAN address>:<port>. */
  advertise: string | undefined;
  /** What nodes present to each other to pull a room; never sent to browsers. */
  secret: string;
}

/** What one client or one room may take. */
export interface Limits {
  maxViewers: number;
  maxRooms: number;
  /** Signaling sockets one address may hold open. */
  maxSocketsPerAddress: number;
  /** Signaling messages per second per socket (with a burst of twice that). */
  messagesPerSecond: number;
  /** TCP connections (http, https, WebSocket alike) one address may hold open. */
  maxConnectionsPerAddress: number;
  /** Seconds a new connection may stay silent before it is closed. */
  idleTimeout: number;
  /** Seconds a connection has to send its request headers (the TLS handshake included). */
  headersTimeout: number;
}

interface FlagSpec {
  flag: string;
  env: string;
  value?: string;
  help: string;
  multiple?: boolean;
  boolean?: boolean;
}

export const FLAGS: FlagSpec[] = [
  { flag: 'port', env: 'LANCAST_PORT', value: 'N', help: 'port for http, https and WebSocket (default 1990)' },
  { flag: 'host', env: 'LANCAST_HOST', value: 'ADDR', help: 'address to listen on (default 0.0.0.0: every interface)' },
  { flag: 'publish-key', env: 'LANCAST_PUBLISH_KEY', value: 'KEY', help: 'key a broadcaster needs (default: generated once, kept in the data dir)' },
  { flag: 'view-password', env: 'LANCAST_VIEW_PASSWORD', value: 'PW', help: 'password viewers need (default: none)' },
  { flag: 'mode', env: 'LANCAST_MODE', value: 'MODE', help: 'p2p | relay | auto (default auto)' },
  { flag: 'relay-threshold', env: 'LANCAST_RELAY_THRESHOLD', value: 'N', help: 'viewers past which an auto room moves to the relay (default 4)' },
  { flag: 'relay-workers', env: 'LANCAST_RELAY_WORKERS', value: 'N', help: 'threads that send to relay viewers (default: one per core; 0: the main thread)' },
  { flag: 'pause-after', env: 'LANCAST_PAUSE_AFTER', value: 'S', help: 'seconds a relayed room may have no viewers before its broadcast page stops sending (default 5; 0: never)' },
  { flag: 'layer-pause-after', env: 'LANCAST_LAYER_PAUSE_AFTER', value: 'S', help: 'seconds a simulcast layer of a broadcast page may have no viewer on it before the page stops sending it (default 4; 0: never)' },
  { flag: 'cert', env: 'LANCAST_CERT', value: 'FILE', help: 'TLS certificate (PEM); default: self-signed, made on first run' },
  { flag: 'key', env: 'LANCAST_KEY', value: 'FILE', help: 'TLS private key (PEM) for --cert' },
  { flag: 'data-dir', env: 'LANCAST_DATA_DIR', value: 'DIR', help: 'where the certificate and key live (default ~/.lancast)' },
  { flag: 'ice-server', env: 'LANCAST_ICE_SERVER', value: 'URL', multiple: true, help: 'STUN/TURN server, repeatable: stun:host:3478, turn:user:pass@host:3478 (env: comma-separated)' },
  { flag: 'legacy', env: 'LANCAST_LEGACY', boolean: true, help: "also speak the seed's protocol (its push/pull pages, room main)" },
  { flag: 'record', env: 'LANCAST_RECORD', boolean: true, help: 'record every broadcast (VP8 to WebM, H.264 to MP4)' },
  { flag: 'recordings-dir', env: 'LANCAST_RECORDINGS_DIR', value: 'DIR', help: 'where recordings are written (default <data dir>/recordings)' },
  { flag: 'max-viewers', env: 'LANCAST_MAX_VIEWERS', value: 'N', help: 'viewers one room may hold (default 1000)' },
  { flag: 'max-rooms', env: 'LANCAST_MAX_ROOMS', value: 'N', help: 'rooms this server may hold (default 100)' },
  { flag: 'max-sockets-per-address', env: 'LANCAST_MAX_SOCKETS_PER_ADDRESS', value: 'N', help: 'signaling sockets one address may open (default 64)' },
  { flag: 'max-connections-per-address', env: 'LANCAST_MAX_CONNECTIONS_PER_ADDRESS', value: 'N', help: 'TCP connections one address may hold open, WebSockets included (default 256, or 64 above --max-sockets-per-address)' },
  { flag: 'idle-timeout', env: 'LANCAST_IDLE_TIMEOUT', value: 'S', help: 'seconds a new connection may stay silent before it is closed (default 10)' },
  { flag: 'headers-timeout', env: 'LANCAST_HEADERS_TIMEOUT', value: 'S', help: 'seconds a connection has to send its request headers, TLS handshake included (default 30)' },
  { flag: 'log-level', env: 'LANCAST_LOG_LEVEL', value: 'LEVEL', help: 'fatal | error | warn | info | debug (default info)' },
  { flag: 'log-format', env: 'LANCAST_LOG_FORMAT', value: 'FORMAT', help: 'pretty | json | auto (default auto: pretty on a terminal, json otherwise)' },
  { flag: 'redis', env: 'LANCAST_REDIS', value: 'URL', help: 'join a cluster of lancast nodes through this Redis (redis://host:6379); without it lancast runs alone' },
  { flag: 'advertise', env: 'LANCAST_ADVERTISE', value: 'URL', help: 'with --redis: how other nodes and browsers reach this node (default http://<first LAN address>:<port>)' },
  { flag: 'cluster-secret', env: 'LANCAST_CLUSTER_SECRET', value: 'S', help: 'with --redis: the secret every node of the cluster shares, to pull rooms from each other' },
  { flag: 'no-qr', env: 'LANCAST_NO_QR', boolean: true, help: 'do not print the QR code in the banner' },
  { flag: 'help', env: '', boolean: true, help: 'show this help' },
  { flag: 'version', env: '', boolean: true, help: 'print the version' },
];

export class ConfigError extends Error {}

export function helpText(version: string): string {
  const lefts = FLAGS.map((f) => `  --${f.flag}${f.value ? ` ${f.value}` : ''}`);
  // As wide as the longest flag, so no flag runs into its help.
  const width = Math.max(...lefts.map((l) => l.length)) + 2;
  const rows = FLAGS.map((f, i) => {
    const env = f.env ? ` [${f.env}]` : '';
    return `${lefts[i].padEnd(width)}${f.help}${env}`;
  });
  return [
    `lancast ${version}: live one-to-many WebRTC streaming on your local network`,
    '',
    'Usage: lancast [options]      (in a checkout: npm start -- [options])',
    '',
    'Options (each has an environment twin in brackets):',
    ...rows,
    '',
    'Open /broadcast/<room> to go live, /watch/<room> to watch; the banner prints both.',
  ].join('\n');
}

/** `stun:h:p`, `turn:user:pass@h:p?transport=udp`, `turns:...` -> RTCIceServer. */
export function parseIceServer(text: string): IceServer {
  const m = /^(stuns?|turns?):(?:([^:@]*):([^@]*)@)?(.+)$/.exec(text.trim());
  if (!m) throw new ConfigError(`--ice-server "${text}": expected stun:host:port or turn:user:pass@host:port`);
  const [, scheme, username, credential, rest] = m;
  const server: IceServer = { urls: `${scheme}:${rest}` };
  if (username !== undefined) {
    try {
      server.username = decodeURIComponent(username);
      server.credential = decodeURIComponent(credential ?? '');
    } catch {
      throw new ConfigError(`--ice-server "${text}": the user or password has a malformed %-escape`);
    }
  }
  // Browsers refuse to create any connection when a TURN server lacks a user or a password.
  if (scheme.startsWith('turn') && (!server.username || !server.credential)) {
    throw new ConfigError(`--ice-server "${text}": a TURN server needs a user and a password: turn:user:pass@host:port`);
  }
  return server;
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

export type ParsedArgs = { help: true } | { version: true } | { config: Config };

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    const options = Object.fromEntries(
      FLAGS.map((f) => [f.flag, { type: f.boolean ? 'boolean' : 'string', multiple: f.multiple ?? false }] as const),
    );
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\nRun lancast --help for the options.`);
  }
  if (values.help) return { help: true };
  if (values.version) return { version: true };

  const pick = (flag: string): string | undefined => {
    const spec = FLAGS.find((f) => f.flag === flag)!;
    const v = values[flag];
    if (typeof v === 'string') return v;
    const e = env[spec.env];
    return e === undefined || e === '' ? undefined : e;
  };
  const flagOn = (flag: string) => values[flag] === true || truthy(env[FLAGS.find((f) => f.flag === flag)!.env]);
  const int = (flag: string, fallback: number, min: number, max: number): number => {
    const v = pick(flag);
    if (v === undefined) return fallback;
    // Decimal digits only: Number() would take "", "0x50" and "1e3" as well.
    const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${flag} must be an integer from ${min} to ${max}, not "${v}"`);
    return n;
  };

  const mode = Mode.safeParse(pick('mode') ?? 'auto');
  if (!mode.success) throw new ConfigError(`--mode must be p2p, relay or auto, not "${pick('mode')}"`);
  const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).safeParse(pick('log-level') ?? 'info');
  if (!logLevel.success) throw new ConfigError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent`);
  const logFormat = z.enum(['pretty', 'json', 'auto']).safeParse(pick('log-format') ?? 'auto');
  if (!logFormat.success) throw new ConfigError(`--log-format must be pretty, json or auto, not "${pick('log-format')}"`);

  const iceFlags = values['ice-server'];
  const iceTexts = Array.isArray(iceFlags) && iceFlags.length ? iceFlags.map(String) : (env.LANCAST_ICE_SERVER ?? '').split(',').filter(Boolean);

  const cert = pick('cert');
  const key = pick('key');
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError('--cert and --key go together');

  const publishKey = pick('publish-key');
  if (publishKey !== undefined && (publishKey.length < 1 || publishKey.length > 256)) {
    throw new ConfigError('--publish-key must be 1 to 256 characters');
  }
  // A viewer's join carries at most 256 characters of password: a longer one could never match.
  const viewPassword = pick('view-password');
  if (viewPassword !== undefined && (viewPassword.length < 1 || viewPassword.length > 256)) {
    throw new ConfigError('--view-password must be 1 to 256 characters');
  }

  const cluster = clusterConfig(pick('redis'), pick('advertise'), pick('cluster-secret'));

  const maxSocketsPerAddress = int('max-sockets-per-address', 64, 1, 1_000_000);
  return {
    config: {
      port: int('port', 1990, 0, 65535),
      host: pick('host') ?? '0.0.0.0',
      publishKey,
      viewPassword,
      mode: mode.data,
      relayThreshold: int('relay-threshold', 4, 1, 100_000),
      relayWorkers: int('relay-workers', availableParallelism(), 0, 64),
      pauseAfter: int('pause-after', 5, 0, 86_400),
      layerPauseAfter: int('layer-pause-after', 4, 0, 86_400),
      cert,
      key,
      dataDir: pick('data-dir') ?? join(homedir(), '.lancast'),
      iceServers: iceTexts.map(parseIceServer),
      legacy: flagOn('legacy'),
      record: flagOn('record'),
      recordingsDir: pick('recordings-dir') ?? join(pick('data-dir') ?? join(homedir(), '.lancast'), 'recordings'),
      logLevel: logLevel.data,
      logFormat: logFormat.data,
      qr: !flagOn('no-qr'),
      cluster,
      limits: {
        maxViewers: int('max-viewers', 1000, 1, 1_000_000),
        maxRooms: int('max-rooms', 100, 1, 100_000),
        maxSocketsPerAddress,
        messagesPerSecond: 200,
        // Raising the WebSocket limit alone must not run into this one, so the default follows it.
        maxConnectionsPerAddress: int('max-connections-per-address', Math.max(256, maxSocketsPerAddress + 64), 1, 1_000_000),
        idleTimeout: int('idle-timeout', 10, 1, 3_600),
        headersTimeout: int('headers-timeout', 30, 1, 3_600),
      },
    },
  };
}

function clusterConfig(redis: string | undefined, advertise: string | undefined, secret: string | undefined): ClusterConfig | undefined {
  if (redis === undefined) {
    if (advertise !== undefined || secret !== undefined) throw new ConfigError('--advertise and --cluster-secret go with --redis');
    return undefined;
  }
  if (!/^rediss?:\/\/[^\s]+$/.test(redis)) throw new ConfigError(`--redis must be a redis:// or rediss:// URL, not "${redis}"`);
  if (secret === undefined) throw new ConfigError('--redis needs --cluster-secret: the secret every node of the cluster shares');
  if (secret.length < 8 || secret.length > 256) throw new ConfigError('--cluster-secret must be 8 to 256 characters');
  if (advertise !== undefined) {
    let url: URL;
    try {
      url = new URL(advertise);
    } catch {
      throw new ConfigError(`--advertise must be a URL such as http://192.168.1.20:1990, not "${advertise}"`);
    }
    if (!/^https?:$/.test(url.protocol) || url.pathname !== '/' || url.search || url.hash) {
      throw new ConfigError(`--advertise must be an http(s) URL of the node itself, such as http://192.168.1.20:1990, not "${advertise}"`);
    }
    advertise = url.origin;
  }
  return { redis, advertise, secret };
}
