/**
 * A real S3-protocol server (s3rver) on loopback for tests, end-to-end suites
 * and demos. Every instance gets its own port (0 → kernel-chosen) and its own
 * temporary directory, so parallel test files never share state.
 *
 *   const s3 = await startS3Server();            // bucket "coffer" exists
 *   const backend = openBackend(s3.url('repo1'), s3.env);
 *   …
 *   await s3.close();
 *
 * Run directly (`node --import tsx test/repository/s3-server.ts [--bucket B]`) it prints
 * the environment to export and serves until interrupted.
 */
import { createRequire } from 'node:module';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
  store: { deleteObject(bucket: string, key: string): Promise<void>; getResourcePath(bucket: string, key: string, resource: string): string };
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;

export interface S3TestServer {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  port: number;
  /** The bucket created at start (first of `buckets`). */
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Environment a Coffer process needs to reach this server (`openBackend(url, env)`). */
  env: Record<string, string>;
  /** `s3://BUCKET/PREFIX` for this server's bucket. */
  url(prefix?: string): string;
  /** Where s3rver keeps objects on disk (objects are plain files: handy to corrupt one in a test). */
  directory: string;
  close(): Promise<void>;
}

export interface StartS3ServerOptions {
  buckets?: string[];
  /** Keep objects here instead of a fresh temporary directory (not removed on close). */
  directory?: string;
}

/** s3rver's fixed credentials; it accepts any signature made with them. */
export const S3RVER_ACCESS_KEY = 'S3RVER';
export const S3RVER_SECRET_KEY = 'S3RVER';

export async function startS3Server(opts: StartS3ServerOptions = {}): Promise<S3TestServer> {
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver') as S3rverCtor;
  const buckets = opts.buckets?.length ? opts.buckets : ['coffer'];
  const ownDir = !opts.directory;
  const directory = opts.directory ?? (await mkdtemp(path.join(tmpdir(), 's3rver-')));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  // s3rver 3.7 removes a key's parent directories when a DELETE empties them, racing a PUT into the same "folder"
  // that has made the directory but not yet opened its file: the PUT's write stream fails with an unhandled ENOENT
  // (crashing the process) and the object is lost although the PUT answered 200. S3 has no directories, so the
  // delete here removes only the object's files and leaves empty directories alone.
  server.store.deleteObject = async (bucket, key) => {
    await Promise.all(
      ['object', 'object.md5', 'metadata.json'].map((r) =>
        unlink(server.store.getResourcePath(bucket, key, r)).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        }),
      ),
    );
  };
  const addr = await server.run();
  // Large multipart uploads through a slow proxy must not be cut by Node's default request timeouts.
  if (server.httpServer) {
    server.httpServer.requestTimeout = 0;
    server.httpServer.keepAliveTimeout = 5_000;
  }
  const endpoint = `http://127.0.0.1:${addr.port}`;
  const bucket = buckets[0]!;
  const region = 'us-east-1';
  let closed = false;
  return {
    endpoint,
    port: addr.port,
    bucket,
    region,
    accessKeyId: S3RVER_ACCESS_KEY,
    secretAccessKey: S3RVER_SECRET_KEY,
    directory,
    env: {
      COFFER_S3_ENDPOINT: endpoint,
      COFFER_S3_PATH_STYLE: 'true',
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: S3RVER_SECRET_KEY,
    },
    url: (prefix = '') => `s3://${bucket}${prefix ? `/${prefix.replace(/^\/+/, '')}` : ''}`,
    async close() {
      if (closed) return;
      closed = true;
      server.httpServer?.closeAllConnections?.();
      await server.close();
      if (ownDir) await rm(directory, { recursive: true, force: true });
    },
  };
}

// `node --import tsx test/repository/s3-server.ts` — a server for manual runs and demos (stops on SIGINT/SIGTERM;
// through the `tsx` CLI wrapper a SIGTERM may not reach it, so prefer this form when a script kills it by pid).
if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname) {
  const i = process.argv.indexOf('--bucket');
  const s3 = await startS3Server({ buckets: i > 0 && process.argv[i + 1] ? [process.argv[i + 1]!] : undefined });
  for (const [k, v] of Object.entries(s3.env)) process.stdout.write(`export ${k}=${v}\n`);
  process.stdout.write(`# repository URL: ${s3.url('repo')}   (Ctrl-C to stop)\n`);
  const stop = () => void s3.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
