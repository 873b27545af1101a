/**
 * http and https on one port: the first byte of a connection tells them apart (a TLS handshake
 * starts with 0x16), so `http://host:1990` and `https://host:1990` both work and users never
 * juggle two ports. The same trick as httpolyglot, in a few lines.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import net from 'node:net';

const TLS_HANDSHAKE = 0x16;

export function createDualListener(http: HttpServer, https: HttpsServer): net.Server {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.once('data', (head: Buffer) => {
      // Put the bytes back and let the right server read them from the start.
      socket.pause();
      socket.unshift(head);
      (head[0] === TLS_HANDSHAKE ? https : http).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
  // Closing the listener also drops idle keep-alive connections, so shutdown is prompt.
  const close = server.close.bind(server);
  server.close = (cb) => {
    close(cb);
    for (const s of sockets) s.destroy();
    return server;
  };
  return server;
}
