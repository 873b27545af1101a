import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, FLAGS, helpText, parseConfig, parseIceServer, type Config } from '../../src/config.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const r = parseConfig(argv, env);
  assert.ok('config' in r, `expected a config from ${argv.join(' ')}`);
  return r.config;
}

/** Asserts parseConfig refuses with a ConfigError whose message matches. */
function refuses(argv: string[], message: RegExp, env: NodeJS.ProcessEnv = {}): void {
  assert.throws(
    () => parseConfig(argv, env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `${argv.join(' ')} threw ${String(err)}, not a ConfigError`);
      assert.match(err.message, message, argv.join(' '));
      return true;
    },
    `${argv.join(' ')} ${JSON.stringify(env)} was accepted`,
  );
}

describe('parseConfig', () => {
  test('defaults: port 1990 on every interface, auto mode, a generated key, no password, ~/.lancast', () => {
    const c = config([]);
    assert.deepEqual(
      { port: c.port, host: c.host, mode: c.mode, relayThreshold: c.relayThreshold, legacy: c.legacy, publishKey: c.publishKey, viewPassword: c.viewPassword, iceServers: c.iceServers, qr: c.qr, logLevel: c.logLevel, cert: c.cert },
      { port: 1990, host: '0.0.0.0', mode: 'auto', relayThreshold: 4, legacy: false, publishKey: undefined, viewPassword: undefined, iceServers: [], qr: true, logLevel: 'info', cert: undefined },
    );
    assert.match(c.dataDir, /[/\\]\.lancast$/);
    assert.equal(c.logFormat, 'auto', 'readable on a terminal, JSON otherwise');
    assert.deepEqual(c.limits, {
      maxViewers: 1000,
      maxRooms: 100,
      maxSocketsPerAddress: 64,
      messagesPerSecond: 200,
      maxConnectionsPerAddress: 256,
      idleTimeout: 10,
      headersTimeout: 30,
    });
    assert.equal(c.pauseAfter, 5, 'an unwatched relayed room pauses its broadcaster after 5 s');
    assert.equal(c.layerPauseAfter, 4, 'a simulcast layer nobody wants is paused after 4 s');
  });

  // [flag, value, another value, what the config holds]
  const valued: [string, string, string, (c: Config) => unknown][] = [
    ['port', '4000', '5000', (c) => c.port],
    ['host', '192.168.1.5', '10.0.0.1', (c) => c.host],
    ['publish-key', 'k-flag', 'k-env', (c) => c.publishKey],
    ['view-password', 'pw-1', 'pw-2', (c) => c.viewPassword],
    ['mode', 'p2p', 'relay', (c) => c.mode],
    ['relay-threshold', '7', '9', (c) => c.relayThreshold],
    ['pause-after', '30', '0', (c) => c.pauseAfter],
    ['layer-pause-after', '10', '0', (c) => c.layerPauseAfter],
    ['data-dir', '/tmp/a', '/tmp/b', (c) => c.dataDir],
    ['log-level', 'debug', 'warn', (c) => c.logLevel],
    ['log-format', 'json', 'pretty', (c) => c.logFormat],
    ['max-viewers', '10', '20', (c) => c.limits.maxViewers],
    ['max-rooms', '3', '4', (c) => c.limits.maxRooms],
    ['max-sockets-per-address', '5', '6', (c) => c.limits.maxSocketsPerAddress],
    ['max-connections-per-address', '50', '60', (c) => c.limits.maxConnectionsPerAddress],
    ['idle-timeout', '3', '4', (c) => c.limits.idleTimeout],
    ['headers-timeout', '7', '8', (c) => c.limits.headersTimeout],
  ];
  const envOf = (flag: string) => FLAGS.find((f) => f.flag === flag)!.env;
  const asValue = (flag: string, v: string) => (/port|threshold|max-|pause-after|timeout/.test(flag) ? Number(v) : v);

  test('every flag sets its value', () => {
    for (const [flag, value, , read] of valued) assert.equal(read(config([`--${flag}`, value])), asValue(flag, value), flag);
  });

  test('every flag has a LANCAST_* twin in the environment', () => {
    for (const [flag, value, , read] of valued) {
      assert.equal(envOf(flag), `LANCAST_${flag.toUpperCase().replaceAll('-', '_')}`);
      assert.equal(read(config([], { [envOf(flag)]: value })), asValue(flag, value), envOf(flag));
    }
  });

  test('a flag beats its twin', () => {
    for (const [flag, value, other, read] of valued) {
      assert.equal(read(config([`--${flag}`, value], { [envOf(flag)]: other })), asValue(flag, value), flag);
    }
  });

  test('the connection cap stays 64 above --max-sockets-per-address unless it is set', () => {
    assert.equal(config(['--max-sockets-per-address', '100']).limits.maxConnectionsPerAddress, 256);
    assert.equal(config(['--max-sockets-per-address', '2100']).limits.maxConnectionsPerAddress, 2164);
    assert.equal(config([], { LANCAST_MAX_SOCKETS_PER_ADDRESS: '500' }).limits.maxConnectionsPerAddress, 564);
    assert.equal(config(['--max-sockets-per-address', '2100', '--max-connections-per-address', '30']).limits.maxConnectionsPerAddress, 30);
  });

  test('--cert and --key, from flags or their twins', () => {
    const c = config(['--cert', 'c.pem', '--key', 'k.pem']);
    assert.deepEqual([c.cert, c.key], ['c.pem', 'k.pem']);
    const e = config([], { LANCAST_CERT: 'ec.pem', LANCAST_KEY: 'ek.pem' });
    assert.deepEqual([e.cert, e.key], ['ec.pem', 'ek.pem']);
  });

  test('an empty environment variable counts as unset', () => {
    const c = config([], { LANCAST_PORT: '', LANCAST_PUBLISH_KEY: '', LANCAST_VIEW_PASSWORD: '', LANCAST_MODE: '' });
    assert.deepEqual([c.port, c.publishKey, c.viewPassword, c.mode], [1990, undefined, undefined, 'auto']);
  });

  test('switches: --legacy and --no-qr, and their twins take 1, true, yes, on', () => {
    assert.deepEqual([config(['--legacy']).legacy, config(['--no-qr']).qr], [true, false]);
    for (const on of ['1', 'true', 'TRUE', 'yes', 'on']) {
      assert.equal(config([], { LANCAST_LEGACY: on }).legacy, true, on);
      assert.equal(config([], { LANCAST_NO_QR: on }).qr, false, on);
    }
    for (const off of ['0', 'false', 'no', 'off', '']) {
      assert.equal(config([], { LANCAST_LEGACY: off }).legacy, false, off);
      assert.equal(config([], { LANCAST_NO_QR: off }).qr, true, off);
    }
  });

  test('port 0 asks for any free port', () => {
    assert.equal(config(['--port', '0']).port, 0);
  });

  test('--help and --version', () => {
    assert.deepEqual(parseConfig(['--help'], {}), { help: true });
    assert.deepEqual(parseConfig(['--version'], {}), { version: true });
    assert.deepEqual(parseConfig(['--port', 'nonsense', '--help'], {}), { help: true }, '--help wins over a bad value');
  });

  test('numbers must be whole decimal numbers in range', () => {
    for (const v of ['abc', '-1', '65536', '1.5', '', ' ', '0x50', '1e3', '80abc']) {
      refuses([`--port=${v}`], new RegExp(`^--port must be an integer from 0 to 65535, not "${v.replace(/[.]/g, '\\.')}"$`));
    }
    refuses([], /--port must be an integer/, { LANCAST_PORT: 'eighty' });
    refuses(['--relay-threshold', '0'], /--relay-threshold must be an integer from 1 to 100000/);
    refuses(['--max-viewers', '0'], /--max-viewers must be an integer from 1/);
    refuses(['--max-rooms=-3'], /--max-rooms must be an integer from 1/);
    refuses(['--max-sockets-per-address', 'many'], /--max-sockets-per-address must be an integer/);
    refuses(['--pause-after=-1'], /--pause-after must be an integer from 0 to 86400/);
    refuses(['--idle-timeout', '0'], /--idle-timeout must be an integer from 1 to 3600/);
    refuses(['--headers-timeout', '3601'], /--headers-timeout must be an integer from 1 to 3600/);
    refuses(['--max-connections-per-address', '0'], /--max-connections-per-address must be an integer from 1/);
  });

  test('other bad values are refused with a sentence naming the flag', () => {
    refuses(['--mode', 'warp'], /^--mode must be p2p, relay or auto, not "warp"$/);
    refuses([], /^--mode must be p2p, relay or auto, not "sideways"$/, { LANCAST_MODE: 'sideways' });
    refuses(['--log-level', 'loud'], /^--log-level must be one of/);
    refuses(['--cert', 'a.pem'], /^--cert and --key go together$/);
    refuses(['--key', 'a.pem'], /^--cert and --key go together$/);
    refuses([], /--cert and --key go together/, { LANCAST_CERT: 'a.pem' });
    refuses(['--publish-key', ''], /^--publish-key must be 1 to 256 characters$/);
    refuses(['--publish-key', 'k'.repeat(257)], /^--publish-key must be 1 to 256 characters$/);
    refuses(['--view-password', ''], /^--view-password must be 1 to 256 characters$/);
    refuses(['--view-password', 'p'.repeat(257)], /^--view-password must be 1 to 256 characters$/);
    assert.equal(config(['--publish-key', 'k'.repeat(256), '--view-password', 'p'.repeat(256)]).publishKey!.length, 256);
  });

  test('unknown flags, positional arguments and missing values point to --help', () => {
    refuses(['--nope'], /Unknown option '--nope'[\s\S]*Run lancast --help/);
    refuses(['serve'], /positional[\s\S]*Run lancast --help/);
    refuses(['--port'], /argument missing[\s\S]*Run lancast --help/);
    refuses(['--legacy=yes'], /Run lancast --help/);
  });
});

describe('--ice-server', () => {
  test('STUN and STUNS URLs pass as they are', () => {
    assert.deepEqual(parseIceServer('stun:stun.l.google.com:19302'), { urls: 'stun:stun.l.google.com:19302' });
    assert.deepEqual(parseIceServer('stuns:stun.lan:5349'), { urls: 'stuns:stun.lan:5349' });
    assert.deepEqual(parseIceServer('  stun:192.168.1.1  '), { urls: 'stun:192.168.1.1' });
  });

  test('turn:user:pass@host becomes a URL with a username and a credential', () => {
    assert.deepEqual(parseIceServer('turn:alice:s3cret@turn.lan:3478'), { urls: 'turn:turn.lan:3478', username: 'alice', credential: 's3cret' });
    assert.deepEqual(parseIceServer('turns:alice:s3cret@turn.lan:5349?transport=tcp'), { urls: 'turns:turn.lan:5349?transport=tcp', username: 'alice', credential: 's3cret' });
    assert.deepEqual(parseIceServer('turn:alice:s3cret@turn.lan'), { urls: 'turn:turn.lan', username: 'alice', credential: 's3cret' });
  });

  test('a user or password with : or @ is written %-escaped', () => {
    assert.deepEqual(parseIceServer('turn:a%3Ab:p%40ss%3Aw@turn.lan:3478'), { urls: 'turn:turn.lan:3478', username: 'a:b', credential: 'p@ss:w' });
  });

  test('refuses what is not a STUN or TURN URL', () => {
    for (const text of ['http://example.com', 'stun:', '', 'stun', 'turn//host', 'ftp:host:21']) {
      assert.throws(() => parseIceServer(text), (e: unknown) => e instanceof ConfigError && /expected stun:host:port or turn:user:pass@host:port/.test(e.message), text);
    }
  });

  test('refuses a TURN server without a user and a password (browsers would refuse every connection)', () => {
    for (const text of ['turn:turn.lan:3478', 'turns:turn.lan:5349', 'turn:alice@turn.lan:3478', 'turn:alice:@turn.lan:3478', 'turn::pw@turn.lan:3478']) {
      assert.throws(() => parseIceServer(text), (e: unknown) => e instanceof ConfigError && /a TURN server needs a user and a password/.test(e.message), text);
    }
  });

  test('a malformed %-escape is a ConfigError, not a crash', () => {
    assert.throws(() => parseIceServer('turn:u:%zz@turn.lan:3478'), (e: unknown) => e instanceof ConfigError && /malformed %-escape/.test(e.message));
    refuses(['--ice-server', 'turn:%E0%A4%A@turn.lan:3478'], /--ice-server/);
  });

  test('repeats as a flag; its twin is comma-separated; the flag beats the twin', () => {
    const c = config(['--ice-server', 'stun:stun.lan:3478', '--ice-server', 'turn:u:p%40ss@turn.lan:3478?transport=udp']);
    assert.deepEqual(c.iceServers, [
      { urls: 'stun:stun.lan:3478' },
      { urls: 'turn:turn.lan:3478?transport=udp', username: 'u', credential: 'p@ss' },
    ]);
    assert.deepEqual(config([], { LANCAST_ICE_SERVER: 'stun:a:1, turn:u:p@b:2' }).iceServers, [
      { urls: 'stun:a:1' },
      { urls: 'turn:b:2', username: 'u', credential: 'p' },
    ]);
    assert.deepEqual(config(['--ice-server', 'stun:flag:1'], { LANCAST_ICE_SERVER: 'stun:env:1' }).iceServers, [{ urls: 'stun:flag:1' }]);
    refuses([], /--ice-server "turn:nocreds:1"/, { LANCAST_ICE_SERVER: 'stun:a:1,turn:nocreds:1' });
  });
});

describe('helpText', () => {
  test('names every flag, its value and its environment twin', () => {
    const text = helpText('9.9.9');
    assert.match(text, /^lancast 9\.9\.9/);
    for (const f of FLAGS) {
      // The flag, its value, at least two spaces, then its help.
      const line = text.split('\n').find((l) => l.startsWith(`  --${f.flag}${f.value ? ` ${f.value}` : ''}  `));
      assert.ok(line, `--${f.flag} has a line of its own, set apart from its help`);
      assert.ok(line.includes(f.help), line);
      if (f.env) assert.ok(line.endsWith(` [${f.env}]`), line);
    }
  });
});
