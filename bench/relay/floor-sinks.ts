/**
 * Receivers for the rooms bench's floor layout (floor-sender.ts): UDP sockets in one process that
 * read every datagram as it comes, as a viewer process's network thread does (one thread for its
 * viewers, woken when a datagram arrives while it waits). Commands: `{"add": N}` binds N sockets and
 * answers their ports; `{"count": true}` answers each socket's datagrams so far; `{"stop": true}`
 * exits.
 *
 *   node --import tsx bench/relay/floor-sinks.ts
 */
import { createSocket } from 'node:dgram';
import { serveJsonLines } from './wrtc-child.js';

const counts: number[] = [];

async function bind(): Promise<number> {
  const i = counts.push(0) - 1;
  const socket = createSocket('udp4');
  socket.on('message', () => counts[i]++);
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return socket.address().port;
}

await serveJsonLines<{ add?: number; count?: boolean; stop?: boolean }>(async (cmd) => {
  if (cmd.add) {
    const ports: number[] = [];
    for (let i = 0; i < cmd.add; i++) ports.push(await bind());
    return { ports };
  }
  return cmd.count ? { counts } : {};
});
