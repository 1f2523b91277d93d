import type { PlanProfile, SecretKeyRef } from '../compiler/plan/types.ts';
import { openBackend, profileRepositoryUrl } from '../repository/backend/open.ts';
import { initRepository, openRepository, type Repository } from '../repository/index.ts';
import { type KubeClient, isNotFound } from './kube/client.ts';
import type { MoverRepository } from './volumes/index.ts';

/** Where Coffer's own Secrets live when a Profile's reference names no namespace (K10 uses kasten-io; we use coffer-system). */
export const DEFAULT_COFFER_NAMESPACE = 'coffer-system';

export class ProfileError extends Error {
  constructor(
    readonly code: 'E_PROFILE_SECRET' | 'E_PROFILE',
    message: string,
  ) {
    super(message);
    this.name = 'ProfileError';
  }
}

/** A profile's repository, opened in-process (manifests) and described for mover Jobs (volume data). */
export interface ProfileRepository {
  profile: string;
  location: string;
  repo: Repository;
  mover: MoverRepository;
  close(): Promise<void>;
}

/**
 * Reads one key of a Secret. Profiles only ever reference Secrets (never inline credentials), so this is the one
 * place their values are read, and they go no further than the repository and the mover Job's own Secret.
 */
export async function readSecretKey(client: KubeClient, ref: SecretKeyRef, defaultNamespace: string, what: string): Promise<string> {
  const namespace = ref.namespace ?? defaultNamespace;
  let secret: { data?: Record<string, string> };
  try {
    secret = (await client.get('v1', 'secrets', namespace, ref.name)) as { data?: Record<string, string> };
  } catch (e) {
    if (isNotFound(e)) throw new ProfileError('E_PROFILE_SECRET', `${what}: secret "${namespace}/${ref.name}" not found`);
    throw e;
  }
  const b64 = secret.data?.[ref.key];
  if (b64 === undefined) throw new ProfileError('E_PROFILE_SECRET', `${what}: secret "${namespace}/${ref.name}" has no key "${ref.key}"`);
  return Buffer.from(b64, 'base64').toString('utf8');
}

/**
 * Opens the repository a Profile points at, creating it on first use (like K10 initialising a location profile's
 * repository), and says how a mover Job reaches the same repository: S3 by URL plus credentials, a filesystem
 * repository through a hostPath volume (single node, the sandbox) holding its directory.
 */
export async function openProfileRepository(
  client: KubeClient,
  profile: PlanProfile,
  opts: { cofferNamespace?: string; env?: NodeJS.ProcessEnv; /** false: never initialise (coffer doctor only looks) */ create?: boolean } = {},
): Promise<ProfileRepository> {
  const ns = opts.cofferNamespace ?? DEFAULT_COFFER_NAMESPACE;
  const what = `profile "${profile.name}"`;
  const password = await readSecretKey(client, profile.encryption.keySecret, ns, `${what} encryption key`);
  const moverEnv: Record<string, string> = {};
  let credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  if (profile.s3?.credentials) {
    const c = profile.s3.credentials;
    const ref = (key: string): SecretKeyRef => ({ name: c.secretName, key, ...(c.namespace ? { namespace: c.namespace } : {}) });
    credentials = {
      accessKeyId: await readSecretKey(client, ref(c.accessKeyIdKey), ns, `${what} credentials`),
      secretAccessKey: await readSecretKey(client, ref(c.secretAccessKeyKey), ns, `${what} credentials`),
    };
    moverEnv.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
    moverEnv.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
  }
  const url = profileRepositoryUrl({
    ...(profile.s3 ? { s3: profile.s3 } : {}),
    ...(profile.filesystem ? { filesystem: { path: profile.filesystem.path } } : {}),
    ...(profile.immutability ? { immutability: profile.immutability } : {}),
  });
  const backend = openBackend(url, opts.env ?? process.env, credentials ? { credentials } : {});
  let repo: Repository;
  try {
    repo = await openRepository(backend, password);
  } catch (e) {
    if ((e as { code?: string }).code !== 'E_REPO_NOT_INITIALIZED' || opts.create === false) throw e;
    repo = await initRepository(backend, password).catch(async (err: { code?: string }) => {
      // Another replica or run initialised it between our open and init.
      if (err.code === 'E_REPO_EXISTS') return openRepository(backend, password);
      throw err;
    });
  }
  // Backup movers run where the key lives, so the credentials never reach an application's namespace.
  const mover: MoverRepository = { url, password, namespace: profile.encryption.keySecret.namespace ?? ns, ...(Object.keys(moverEnv).length ? { env: moverEnv } : {}) };
  if (profile.filesystem) {
    mover.volume = profile.filesystem.claimName ? { persistentVolumeClaim: profile.filesystem.claimName } : { hostPath: profile.filesystem.path };
  }
  return { profile: profile.name, location: profile.location, repo, mover, close: async () => backend.close?.() };
}
