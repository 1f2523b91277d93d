/**
 * One port, two protocols: a TLS ClientHello starts with byte 0x16, an HTTP
 * request with a method name, so the first byte of a connection decides
 * whether it goes to the HTTPS or the plain HTTP server. kubectl, client-node
 * and in-cluster clients (`loadFromCluster()`) speak HTTPS with the sandbox CA;
 * plain HTTP stays for quick `curl`/`fetch` on loopback. Both run the same
 * filters (authentication, audit), so neither is a way around them.
 */
import { createServer, type Server } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';

const TLS_HANDSHAKE = 0x16;

export function dualProtocolServer(plain: HttpServer, secure: HttpsServer): Server {
  return createServer((socket) => {
    socket.once('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === TLS_HANDSHAKE ? secure : plain).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
  });
}
