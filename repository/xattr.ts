import { createRequire } from 'node:module';

/** One extended attribute as stored in a tree node (restic's `extended_attributes` shape: value in base64). */
export interface Xattr {
  name: string;
  value: string;
}

type XattrModule = typeof import('@napi-rs/xattr');
let mod: XattrModule | null | undefined;

/**
 * @napi-rs/xattr (N-API, prebuilt per platform in its optional dependencies; its calls do not follow
 * symlinks), loaded on first use. Where no binary exists for the platform, extended attributes are
 * neither recorded nor restored, and the rest of the mover works as before.
 */
function xattrs(): XattrModule | null {
  if (mod === undefined) {
    try {
      mod = createRequire(import.meta.url)('@napi-rs/xattr') as XattrModule;
    } catch {
      mod = null;
    }
  }
  return mod;
}

/** Whether this process can read and write extended attributes (the add-on has a binary for the platform). */
export function xattrSupport(): boolean {
  return xattrs() !== null;
}

/**
 * The user namespace and POSIX ACLs (`system.posix_acl_access`, and `system.posix_acl_default` on directories:
 * the kernel's binary ACL form with numeric ids, as restic records them). security.* (file capabilities, SELinux
 * labels) and trusted.* need privileges to set and are left out, so a crafted snapshot cannot grant capabilities.
 */
const RECORDED = /^(user\.|system\.posix_acl_(access|default)$)/;

/** "No extended attributes here" (ENOTSUP 95, ENODATA 61), not a problem with the file: napi-rs reports errno only in the message. */
const NONE = /\(os error (95|61)\)/;

/** The user.* attributes and POSIX ACLs of `path` (not following a symlink), sorted by name; undefined when there are none. */
export function readXattrs(path: string): Xattr[] | undefined {
  const m = xattrs();
  if (!m) return undefined;
  let names: string[];
  try {
    names = m.listAttributesSync(path).filter((n) => RECORDED.test(n)).sort();
  } catch (e) {
    if (NONE.test((e as Error).message)) return undefined;
    throw e;
  }
  const out: Xattr[] = [];
  for (const name of names) {
    const v = m.getAttributeSync(path, name);
    if (v) out.push({ name, value: v.toString('base64') });
  }
  return out.length ? out : undefined;
}

/**
 * Whether the directory `path` has a default ACL (a file created in it then takes its permissions from the ACL, not
 * from the umask); undefined when this process cannot tell (no add-on, or listing failed).
 */
export function hasDefaultAcl(path: string): boolean | undefined {
  const m = xattrs();
  if (!m) return undefined;
  try {
    return m.listAttributesSync(path).includes('system.posix_acl_default');
  } catch (e) {
    return NONE.test((e as Error).message) ? false : undefined;
  }
}

/** Set each attribute on `path`; throws naming the first that the target filesystem refuses. */
export function writeXattrs(path: string, list: readonly Xattr[]): void {
  const m = xattrs();
  if (!m) throw new Error('extended attributes not restored: @napi-rs/xattr has no binary for this platform');
  for (const x of list) {
    // a crafted snapshot must not grant file capabilities (security.capability) or touch trusted.*/system.*
    if (!RECORDED.test(x.name)) throw new Error(`extended attribute ${JSON.stringify(x.name)} refused: only user.* attributes and POSIX ACLs are restored`);
    try {
      m.setAttributeSync(path, x.name, Buffer.from(x.value, 'base64'));
    } catch (e) {
      throw new Error(`extended attribute ${x.name} not restored: ${(e as Error).message}`);
    }
  }
}
