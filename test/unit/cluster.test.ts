/** The cluster's flags, its sealed passwords, and the picture every node computes from the records. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clusterRooms, leastLoaded, withRoomFor, type NodeRecord, type RoomRecord } from '../../src/cluster/records.js';
import { redactedUrl } from '../../src/cluster/redis.js';
import { seal, unseal } from '../../src/cluster/secret-box.js';
import { ConfigError, parseConfig, type Config } from '../../src/config.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const parsed = parseConfig(argv, env);
  assert.ok('config' in parsed);
  return parsed.config;
}

describe('cluster flags', () => {
  test('alone by default; --redis with a secret joins, the advertised URL kept to its origin', () => {
    assert.equal(config([]).cluster, undefined);
    assert.deepEqual(config(['--redis', 'redis://10.0.0.5:6379', '--cluster-secret', 'sesame-123', '--advertise', 'http://10.0.0.11:1990/']).cluster, {
      redis: 'redis://10.0.0.5:6379',
      secret: 'sesame-123',
      advertise: 'http://10.0.0.11:1990',
    });
    assert.deepEqual(config([], { LANCAST_REDIS: 'rediss://r:6380', LANCAST_CLUSTER_SECRET: 'sesame-123', LANCAST_ADVERTISE: 'https://n1.lan:1990' }).cluster, {
      redis: 'rediss://r:6380',
      secret: 'sesame-123',
      advertise: 'https://n1.lan:1990',
    });
  });

  test('clear errors for what cannot work', () => {
    const bad: [string[], RegExp][] = [
      [['--redis', 'redis://r:6379'], /--redis needs --cluster-secret/],
      [['--redis', 'http://r:6379', '--cluster-secret', 'sesame-123'], /--redis must be a redis:\/\/ or rediss:\/\/ URL/],
      [['--redis', 'redis://r', '--cluster-secret', 'short'], /--cluster-secret must be 8 to 256 characters/],
      [['--redis', 'redis://r', '--cluster-secret', 'sesame-123', '--advertise', 'n1:1990'], /--advertise must be/],
      [['--redis', 'redis://r', '--cluster-secret', 'sesame-123', '--advertise', 'http://n1:1990/x'], /--advertise must be an http\(s\) URL of the node itself/],
      [['--cluster-secret', 'sesame-123'], /go with --redis/],
    ];
    for (const [argv, message] of bad) assert.throws(() => parseConfig(argv, {}), (err: Error) => err instanceof ConfigError && message.test(err.message), argv.join(' '));
  });

  test('a Redis URL in messages hides its password', () => {
    assert.equal(redactedUrl('redis://user:pw@r:6379/0'), 'redis://***@r:6379/0');
    assert.equal(redactedUrl('redis://r:6379'), 'redis://r:6379');
  });
});

describe('sealed passwords', () => {
  test('open with the secret they were sealed with, and with no other', () => {
    const sealed = seal('sesame-123', 'open-sesame');
    assert.doesNotMatch(sealed, /open-sesame/);
    assert.equal(unseal('sesame-123', sealed), 'open-sesame');
    assert.equal(unseal('another-secret', sealed), undefined);
    assert.equal(unseal('sesame-123', sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA')), undefined);
    assert.equal(unseal('sesame-123', 'not base64 at all'), undefined);
  });
});

describe('the cluster picture', () => {
  const room = (name: string, role: RoomRecord['role'], viewers: number, extra: Partial<RoomRecord> = {}): RoomRecord => ({ name, role, viewers, load: viewers, mode: 'relay', configuredMode: 'auto', reason: '', ...extra });
  const node = (id: string, viewers: number, rooms: RoomRecord[], cpu = 0): NodeRecord => ({ id, url: `http://${id}`, viewers, cpu, maxViewers: 3, passwordAll: false, rooms, at: 0 });

  test("a room's viewers are summed over nodes; its origin is the newest broadcaster's node", () => {
    const rooms = clusterRooms([
      node('a', 2, [room('hall', 'origin', 2, { since: 100 })]),
      node('b', 5, [room('hall', 'edge', 5, { source: 'a' })]),
      node('c', 1, [room('hall', 'origin', 1, { since: 200 }), room('side', 'none', 3)]),
    ]);
    assert.equal(rooms.get('hall')?.viewers, 8);
    assert.equal(rooms.get('hall')?.origin?.id, 'c');
    assert.deepEqual(rooms.get('hall')?.holders.map((n) => n.id), ['a', 'b', 'c']);
    assert.equal(rooms.get('side')?.origin, undefined);
    assert.deepEqual(rooms.get('side')?.holders, []);
  });

  test('the least-loaded node with room for one more viewer', () => {
    const nodes = [node('a', 4, [room('hall', 'origin', 3)]), node('b', 1, [room('hall', 'edge', 1)], 0.5), node('c', 1, [], 0.1)];
    assert.equal(leastLoaded(nodes)?.id, 'c');
    assert.deepEqual(withRoomFor(nodes, 'hall').map((n) => n.id), ['b', 'c']);
    assert.equal(leastLoaded([]), undefined);
  });
});
