/**
 * Turns a pod's volumes into host directories the container sandbox binds:
 * PVC → its bound PV's directory, emptyDir → a per-pod directory, hostPath as
 * is, configMap/secret/downwardAPI/projected → files written into a per-pod
 * directory (atomically, with the requested modes).
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KubeObject } from '../controllers/client.ts';
import type { Mount } from './bwrap.ts';
import { fieldValue } from './env.ts';
import type { FileEntry, ProjectedTokens } from './sa-token.ts';
import { applyFsGroup } from './fsgroup.ts';

export interface VolumeLookups {
  configMap(namespace: string, name: string): Promise<KubeObject | null>;
  secret(namespace: string, name: string): Promise<KubeObject | null>;
  pvc(namespace: string, name: string): Promise<KubeObject | null>;
  pv(name: string): Promise<KubeObject | null>;
  /** The Pod's token manager: requests `serviceAccountToken` projections and keeps their volumes fresh. */
  tokens?: ProjectedTokens;
}

/** A volume that cannot be set up yet (unbound claim, missing ConfigMap): the pod waits in ContainerCreating. */
export class VolumeNotReady extends Error {
  readonly reason = 'FailedMount';
}

export interface PreparedVolume {
  hostPath: string;
  readOnly: boolean;
}

/** Host directory backing a PersistentVolume (CSI volumes of this sandbox, hostPath and local PVs). */
export function persistentVolumeDir(pv: KubeObject): string | undefined {
  return pv.spec?.csi?.volumeAttributes?.path ?? pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
}

function objectEntries(obj: KubeObject, isSecret: boolean): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries<string>(obj.data ?? {})) out.set(k, isSecret ? Buffer.from(v, 'base64') : Buffer.from(v));
  if (isSecret) for (const [k, v] of Object.entries<string>(obj.stringData ?? {})) out.set(k, Buffer.from(v));
  for (const [k, v] of Object.entries<string>(obj.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  return out;
}

function selectItems(entries: Map<string, Buffer>, items: Array<{ key: string; path: string; mode?: number }> | undefined, mode: number, what: string, optional: boolean): FileEntry[] {
  if (!items || items.length === 0) return [...entries].map(([k, data]) => ({ path: k, data, mode }));
  const out: FileEntry[] = [];
  for (const it of items) {
    const data = entries.get(it.key);
    if (!data) {
      if (optional) continue;
      throw new VolumeNotReady(`configmap/secret references non-existent key ${it.key} in ${what}`);
    }
    out.push({ path: it.path, data, mode: it.mode ?? mode });
  }
  return out;
}

async function sourceFiles(pod: KubeObject, src: any, defaultMode: number, lookups: VolumeLookups): Promise<FileEntry[]> {
  const ns = pod.metadata.namespace ?? 'default';
  if (src.configMap) {
    const cm = await lookups.configMap(ns, src.configMap.name);
    if (!cm) {
      if (src.configMap.optional) return [];
      throw new VolumeNotReady(`MountVolume.SetUp failed: configmap "${src.configMap.name}" not found`);
    }
    return selectItems(objectEntries(cm, false), src.configMap.items, src.configMap.defaultMode ?? defaultMode, `configmap ${src.configMap.name}`, !!src.configMap.optional);
  }
  if (src.secret) {
    const name = src.secret.secretName ?? src.secret.name;
    const s = await lookups.secret(ns, name);
    if (!s) {
      if (src.secret.optional) return [];
      throw new VolumeNotReady(`MountVolume.SetUp failed: secret "${name}" not found`);
    }
    return selectItems(objectEntries(s, true), src.secret.items, src.secret.defaultMode ?? defaultMode, `secret ${name}`, !!src.secret.optional);
  }
  if (src.downwardAPI) {
    return (src.downwardAPI.items ?? []).map((it: any) => ({
      path: it.path,
      data: Buffer.from(it.fieldRef ? fieldValue(pod, it.fieldRef.fieldPath) : ''),
      mode: it.mode ?? src.downwardAPI.defaultMode ?? defaultMode,
    }));
  }
  if (src.serviceAccountToken) {
    if (!lookups.tokens) throw new VolumeNotReady('MountVolume.SetUp failed: no token manager for a serviceAccountToken projection');
    try {
      return [await lookups.tokens.token(pod, src.serviceAccountToken, defaultMode)];
    } catch (e) {
      throw new VolumeNotReady(`MountVolume.SetUp failed: failed to fetch token: ${(e as Error).message}`);
    }
  }
  return [];
}

/** Writes files into a fresh directory then swaps it in, so readers never see a half-projected volume. */
async function project(dir: string, files: FileEntry[]): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  for (const f of files) {
    const target = path.join(tmp, path.normalize(f.path).replace(/^(\.\.(\/|$))+/, ''));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, f.data);
    await chmod(target, f.mode);
  }
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/**
 * Prepares every volume of the pod under `podDir/volumes`; throws VolumeNotReady while something is missing.
 * With `securityContext.fsGroup`, emptyDir, PVC and projected volumes are handed to that group (hostPath never).
 */
export async function prepareVolumes(pod: KubeObject, podDir: string, lookups: VolumeLookups): Promise<Map<string, PreparedVolume>> {
  const out = new Map<string, PreparedVolume>();
  const ns = pod.metadata.namespace ?? 'default';
  const fsGroup: number | undefined = pod.spec?.securityContext?.fsGroup;
  const policy: string | undefined = pod.spec?.securityContext?.fsGroupChangePolicy;
  const owned = async (name: string) => {
    const vol = out.get(name)!;
    if (fsGroup !== undefined) await applyFsGroup(vol.hostPath, fsGroup, { readOnly: vol.readOnly, policy });
  };
  for (const v of pod.spec?.volumes ?? []) {
    const own = path.join(podDir, 'volumes', v.name);
    if (v.emptyDir) {
      await mkdir(own, { recursive: true });
      await chmod(own, 0o777); // the kubelet's emptyDir mode: any user of the pod may write
      out.set(v.name, { hostPath: own, readOnly: false });
      await owned(v.name);
    } else if (v.hostPath) {
      out.set(v.name, { hostPath: prepareHostPath(v.hostPath.path, v.hostPath.type ?? ''), readOnly: false });
    } else if (v.persistentVolumeClaim || v.ephemeral) {
      const claimName = v.persistentVolumeClaim?.claimName ?? `${pod.metadata.name}-${v.name}`;
      const pvc = await lookups.pvc(ns, claimName);
      if (!pvc) throw new VolumeNotReady(`persistentvolumeclaim "${claimName}" not found`);
      if (pvc.metadata.deletionTimestamp) throw new VolumeNotReady(`persistentvolumeclaim "${claimName}" is being deleted`);
      const pvName = pvc.spec?.volumeName;
      if (!pvName || pvc.status?.phase !== 'Bound') throw new VolumeNotReady(`pod has unbound immediate PersistentVolumeClaims (claim "${claimName}")`);
      const pv = await lookups.pv(pvName);
      const dir = pv ? persistentVolumeDir(pv) : undefined;
      if (!dir) throw new VolumeNotReady(`persistentvolume "${pvName}" has no host directory`);
      await mkdir(dir, { recursive: true });
      out.set(v.name, { hostPath: dir, readOnly: !!v.persistentVolumeClaim?.readOnly });
      await owned(v.name);
    } else if (v.configMap || v.secret || v.downwardAPI) {
      const defaultMode = v.configMap?.defaultMode ?? v.secret?.defaultMode ?? v.downwardAPI?.defaultMode ?? 0o644;
      await project(own, await sourceFiles(pod, v, defaultMode, lookups));
      out.set(v.name, { hostPath: own, readOnly: true });
      await owned(v.name);
    } else if (v.projected) {
      const render = async () => {
        const files: FileEntry[] = [];
        for (const src of v.projected.sources ?? []) files.push(...(await sourceFiles(pod, src, v.projected.defaultMode ?? 0o644, lookups)));
        return files;
      };
      const files = await render();
      // A token expires: its volume is rewritten in place (under the running container's mount) before it does.
      if (lookups.tokens && files.some((f) => f.refreshAt !== undefined)) await lookups.tokens.keep(own, files, render);
      else await project(own, files);
      out.set(v.name, { hostPath: own, readOnly: true });
      await owned(v.name);
    } else {
      // Unsupported volume types (nfs, iscsi, …) get an empty directory rather than failing the pod.
      await mkdir(own, { recursive: true });
      out.set(v.name, { hostPath: own, readOnly: false });
    }
  }
  return out;
}

function prepareHostPath(p: string, type: string): string {
  const exists = existsSync(p);
  switch (type) {
    case 'DirectoryOrCreate':
      if (!exists) mkdirSync(p, { recursive: true, mode: 0o755 });
      break;
    case 'Directory':
      if (!exists || !statSync(p).isDirectory()) throw new VolumeNotReady(`hostPath type check failed: ${p} is not a directory`);
      break;
    case 'FileOrCreate':
      if (!exists) {
        mkdirSync(path.dirname(p), { recursive: true });
        writeFileSync(p, '', { flag: 'a' });
      }
      break;
    case 'File':
      if (!exists || !statSync(p).isFile()) throw new VolumeNotReady(`hostPath type check failed: ${p} is not a file`);
      break;
    default:
      if (!exists) mkdirSync(p, { recursive: true });
  }
  return p;
}

/** The container's mounts from its volumeMounts (subPath creates the sub-directory as the kubelet does). */
export function containerMounts(container: any, volumes: Map<string, PreparedVolume>): Mount[] {
  const mounts: Mount[] = [];
  for (const vm of container.volumeMounts ?? []) {
    const vol = volumes.get(vm.name);
    if (!vol) throw new VolumeNotReady(`volumeMount "${vm.name}" references no volume of the pod`);
    let source = vol.hostPath;
    if (vm.subPath) {
      source = path.join(source, path.normalize(vm.subPath).replace(/^(\.\.(\/|$))+/, ''));
      // Created with the volume root's mode, as the kubelet does (a setgid root also passes on its group).
      if (!existsSync(source)) mkdirSync(source, { recursive: true, mode: statSync(vol.hostPath).mode & 0o7777 });
    }
    mounts.push({ source, target: vm.mountPath, readOnly: !!vm.readOnly || vol.readOnly });
  }
  return mounts;
}
