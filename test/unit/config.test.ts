import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig, parseIceServer, type Config } from '../../src/config.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const r = parseConfig(argv, env);
  assert.ok('config' in r);
  return r.config;
}

describe('parseConfig', () => {
  test('defaults: port 1990 on every interface, auto mode, threshold 4, no legacy', () => {
    const c = config([]);
    assert.deepEqual([c.port, c.host, c.mode, c.relayThreshold, c.legacy, c.publishKey], [1990, '0.0.0.0', 'auto', 4, false, undefined]);
    assert.match(c.dataDir, /\.lancast$/);
  });

  test('flags and their LANCAST_* twins; a flag beats its twin', () => {
    const env = { LANCAST_PORT: '4000', LANCAST_PUBLISH_KEY: 'from-env', LANCAST_LEGACY: '1', LANCAST_MODE: 'relay' };
    const fromEnv = config([], env);
    assert.deepEqual([fromEnv.port, fromEnv.publishKey, fromEnv.legacy, fromEnv.mode], [4000, 'from-env', true, 'relay']);
    const flags = config(['--port', '5000', '--publish-key', 'secret', '--mode', 'p2p'], env);
    assert.deepEqual([flags.port, flags.publishKey, flags.mode], [5000, 'secret', 'p2p']);
  });

  test('--help and --version', () => {
    assert.deepEqual(parseConfig(['--help'], {}), { help: true });
    assert.deepEqual(parseConfig(['--version'], {}), { version: true });
  });

  test('bad values are ConfigErrors with a sentence', () => {
    assert.throws(() => parseConfig(['--port', 'abc'], {}), (e) => e instanceof ConfigError && /--port must be an integer/.test(e.message));
    assert.throws(() => parseConfig(['--port', '70000'], {}), ConfigError);
    assert.throws(() => parseConfig(['--mode', 'x'], {}), /--mode must be p2p, relay or auto/);
    assert.throws(() => parseConfig(['--cert', 'a.pem'], {}), /--cert and --key go together/);
    assert.throws(() => parseConfig(['--nope'], {}), ConfigError);
    assert.throws(() => parseConfig(['positional'], {}), ConfigError);
  });

  test('--ice-server repeats; the env twin is comma-separated', () => {
    const c = config(['--ice-server', 'stun:stun.lan:3478', '--ice-server', 'turn:u:p%40ss@turn.lan:3478?transport=udp']);
    assert.deepEqual(c.iceServers, [
      { urls: 'stun:stun.lan:3478' },
      { urls: 'turn:turn.lan:3478?transport=udp', username: 'u', credential: 'p@ss' },
    ]);
    assert.equal(config([], { LANCAST_ICE_SERVER: 'stun:a:1,stun:b:2' }).iceServers.length, 2);
  });

  test('parseIceServer refuses what is not a STUN or TURN URL', () => {
    assert.throws(() => parseIceServer('http://example'), /expected stun:host:port/);
  });
});
