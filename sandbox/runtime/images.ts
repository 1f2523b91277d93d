/**
 * The sandbox's image table: which container images can "run" here, and how.
 * There is no container engine, so an image maps to host binaries run inside a
 * bubblewrap root built from the host's read-only /usr. The table is explicit so
 * an unknown image fails loudly (ErrImagePull) instead of running something else.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { databaseImage, databaseImageSummary } from './images/databases.ts';

export interface ImageUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface ImageDefinition {
  /** Table entry that matched, for events and status (`imageID`). */
  name: string;
  /** The image's ENTRYPOINT; a container's `command` replaces it. */
  entrypoint: string[];
  /** The image's CMD; a container's `args` replace it. */
  cmd: string[];
  /** Extra environment the image sets (PATH always comes from the image). */
  env: Record<string, string>;
  /** Host paths bound read-only at the same path (beyond /usr). */
  readOnlyBinds: string[];
  /** Host paths bound read-only elsewhere: the image's own files (`/usr/local/bin` of a database image). */
  binds?: Array<{ source: string; target: string }>;
  /** Accounts the image's /etc/passwd holds besides root and nobody (servers that refuse to run as root). */
  users?: ImageUser[];
  /** A network namespace of its own (loopback only): servers listen on their usual port without clashing. */
  privateNetwork?: boolean;
  workingDir: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The Coffer checkout this module runs from: two levels above sandbox/runtime/. */
export const COFFER_CHECKOUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** An image reference without its digest, split at the tag's colon (a colon before the last slash is a registry port). */
function splitTag(image: string): [string, string | undefined] {
  let ref = image.trim();
  const at = ref.indexOf('@');
  if (at >= 0) ref = ref.slice(0, at);
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, undefined];
}

/** Strips registry, tag and digest: `docker.io/library/busybox:1.36@sha256:…` → `busybox`, `ghcr.io/coffer-dev/coffer:v1` → `coffer-dev/coffer`. */
export function repositoryOf(image: string): string {
  const parts = splitTag(image)[0].split('/');
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) parts.shift();
  if (parts[0] === 'library') parts.shift();
  return parts.join('/');
}

/** The tag of an image reference (`postgres:15.4-alpine` → `15.4-alpine`), `latest` when none is written. */
export function tagOf(image: string): string {
  return splitTag(image)[1] ?? 'latest';
}

const SHELL_IMAGES = new Set(['busybox', 'alpine', 'debian', 'ubuntu', 'bash', 'bitnami/kubectl', 'curlimages/curl']);
const SQLITE_IMAGES = new Set(['keinos/sqlite3', 'sqlite', 'nouchka/sqlite3', 'alpine/sqlite']);
const COFFER_IMAGES = new Set(['coffer', 'coffer-dev/coffer', 'coffer/coffer']);

/**
 * Resolves an image reference against the table; undefined means "cannot run
 * here" and the kubelet reports ErrImagePull with `pullError`'s reason.
 */
export function resolveImage(image: string, nodeBinary = process.execPath): ImageDefinition | undefined {
  const repo = repositoryOf(image);
  const base = { env: { PATH: DEFAULT_PATH }, workingDir: '/' };
  if (SHELL_IMAGES.has(repo)) {
    const shell = repo === 'bash' ? '/bin/bash' : '/bin/sh';
    return { ...base, name: repo, entrypoint: [], cmd: [shell], readOnlyBinds: [] };
  }
  if (SQLITE_IMAGES.has(repo)) {
    return { ...base, name: repo, entrypoint: ['sqlite3'], cmd: [], readOnlyBinds: [] };
  }
  if (COFFER_IMAGES.has(repo)) {
    const nodeDir = path.dirname(nodeBinary);
    const binds = [COFFER_CHECKOUT];
    if (!nodeBinary.startsWith('/usr/')) binds.push(nodeDir);
    return {
      ...base,
      name: 'coffer',
      entrypoint: [nodeBinary, path.join(COFFER_CHECKOUT, 'cli', 'coffer.js')],
      cmd: ['--help'],
      env: { PATH: `${nodeDir}:${DEFAULT_PATH}`, COFFER_IN_POD: '1' },
      readOnlyBinds: binds,
    };
  }
  const db = databaseImage(repo, tagOf(image));
  return db && 'definition' in db ? db.definition : undefined;
}

/** The table, for error messages: "images that run here: busybox, alpine, …". */
export function imageTableSummary(): string {
  return [...SHELL_IMAGES, ...SQLITE_IMAGES, ...COFFER_IMAGES, 'ghcr.io/coffer-dev/coffer', databaseImageSummary()].join(', ');
}

/** Why an image cannot run here (the ErrImagePull message after `Failed to pull image "X": `). */
export function pullError(image: string): string {
  const db = databaseImage(repositoryOf(image), tagOf(image));
  if (db && 'refused' in db) return `image "${image}": ${db.refused}`;
  return `image "${image}" is not in the sandbox image table (images that run here: ${imageTableSummary()})`;
}

/**
 * Kubernetes' command/args rules against the image's ENTRYPOINT/CMD: command
 * replaces the entrypoint (and drops CMD), args replace CMD. For the Coffer
 * image a literal `coffer` first word means the entrypoint itself.
 */
export function effectiveArgv(def: ImageDefinition, command: string[] | undefined, args: string[] | undefined): string[] {
  if (command && command.length > 0) {
    if (def.name === 'coffer' && (command[0] === 'coffer' || command[0] === '/usr/local/bin/coffer')) {
      return [...def.entrypoint, ...command.slice(1), ...(args ?? [])];
    }
    return [...command, ...(args ?? [])];
  }
  return [...def.entrypoint, ...(args && args.length > 0 ? args : def.cmd)];
}
