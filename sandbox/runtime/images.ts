/**
 * The sandbox's image table: which container images can "run" here, and how.
 * There is no container engine, so an image maps to host binaries run inside a
 * bubblewrap root built from the host's read-only /usr. The table is explicit so
 * an unknown image fails loudly (ErrImagePull) instead of running something else.
 */
import { existsSync } from 'node:fs';
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
  /** Host paths bound read-only (beyond /usr): the image's own files, the host's Node outside /usr. */
  readOnlyMounts: Array<{ source: string; target: string }>;
  /** Accounts the image's /etc/passwd holds besides root and nobody (servers that refuse to run as root). */
  users?: ImageUser[];
  /** A network namespace of its own (loopback only): servers listen on their usual port without clashing. */
  privateNetwork?: boolean;
  workingDir: string;
  /** The image's USER (`uid[:gid]`); unset = root, as in the images it stands for. */
  user?: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where the Coffer image keeps the build output (deploy/Dockerfile's WORKDIR). */
export const COFFER_IMAGE_DIR = '/opt/coffer';

/** This module's project root: the checkout, or the build folder when the sandbox itself runs from the bundle. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNNING_FROM_BUILD = existsSync(path.join(ROOT, 'coffer-build.json'));

/**
 * The host folder the Coffer image is made of: the build output (`npm run build`), never the checkout, so a file
 * the build leaves out is missing here exactly as in the image deploy/Dockerfile makes. From a checkout that is
 * its dist/, which `pullCofferImage` rebuilds when the sources changed.
 */
export const COFFER_BUILD_DIR = RUNNING_FROM_BUILD ? ROOT : path.join(ROOT, 'dist');

/**
 * The kubelet's "pull" of the Coffer image: from a checkout, make sure dist/ is a build of the current sources
 * (one build at a time across processes). Running from the bundle, its own folder is the image.
 */
export async function pullCofferImage(): Promise<void> {
  if (RUNNING_FROM_BUILD) return;
  // Not a literal import: the bundle never builds itself, so it must not pull esbuild in.
  const ensure = '../../build/ensure.ts';
  const { ensureBuild } = (await import(ensure)) as typeof import('../../build/ensure.ts');
  await ensureBuild(COFFER_BUILD_DIR);
}

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
    return { ...base, name: repo, entrypoint: [], cmd: [shell], readOnlyMounts: [] };
  }
  if (SQLITE_IMAGES.has(repo)) {
    return { ...base, name: repo, entrypoint: ['sqlite3'], cmd: [], readOnlyMounts: [] };
  }
  if (COFFER_IMAGES.has(repo)) {
    const nodeDir = path.dirname(nodeBinary);
    const mounts = [{ source: COFFER_BUILD_DIR, target: COFFER_IMAGE_DIR }];
    if (!nodeBinary.startsWith('/usr/')) mounts.push({ source: nodeDir, target: nodeDir });
    return {
      ...base,
      name: 'coffer',
      entrypoint: [nodeBinary, `${COFFER_IMAGE_DIR}/lib/coffer.mjs`],
      cmd: ['--help'],
      env: { PATH: `${nodeDir}:${DEFAULT_PATH}`, COFFER_IN_POD: '1' },
      readOnlyMounts: mounts,
      workingDir: COFFER_IMAGE_DIR,
      // deploy/Dockerfile: `USER 65532:65532`.
      user: '65532:65532',
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
