import { readFileSync, statSync } from 'node:fs';
import { constantTimeEqual } from './webhooks.ts';

export type Role = 'read' | 'operate';

export interface Principal {
  name: string;
  role: Role;
}

export class TokenFileError extends Error {
  readonly code = 'E_API_TOKENS';
}

const MIN_TOKEN_LENGTH = 16;

/**
 * Parses an API token file — one `token,name,role` per line (the layout of kube-apiserver's --token-auth-file, with
 * the role where it has a uid), `#` comments — usually a mounted Secret. Roles: read (GET everything) and operate
 * (also POST backups). Errors name the line; tokens are never echoed.
 */
export function parseTokenFile(text: string, file = 'tokens'): Array<{ token: string } & Principal> {
  const out: Array<{ token: string } & Principal> = [];
  const names = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [token, name, role, ...extra] = line.split(',').map((s) => s.trim());
    const at = `${file}:${i + 1}`;
    if (extra.length || !token || !name || !role) throw new TokenFileError(`${at}: expected token,name,role`);
    if (token.length < MIN_TOKEN_LENGTH) throw new TokenFileError(`${at}: token of ${name} is shorter than ${MIN_TOKEN_LENGTH} characters`);
    if (role !== 'read' && role !== 'operate') throw new TokenFileError(`${at}: role "${role}" of ${name}: expected read or operate`);
    if (out.some((t) => t.token === token)) throw new TokenFileError(`${at}: token of ${name} is already used by another entry`);
    if (names.has(name)) throw new TokenFileError(`${at}: ${name} appears twice`);
    names.add(name);
    out.push({ token, name, role });
  });
  return out;
}

/** Bearer tokens from a file, re-read when the file changes (a rotated Secret takes effect without a restart). */
export class TokenStore {
  private entries: Array<{ token: string } & Principal> = [];
  private mtime = -1;

  constructor(private readonly file: string) {
    this.reload();
  }

  private reload(): void {
    const st = statSync(this.file);
    if (st.mtimeMs === this.mtime) return;
    this.entries = parseTokenFile(readFileSync(this.file, 'utf8'), this.file);
    this.mtime = st.mtimeMs;
  }

  /** The principal an `Authorization: Bearer …` header names, or undefined. Every entry is compared, in constant time. */
  authenticate(authorization: string | undefined): Principal | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return undefined;
    try {
      this.reload();
    } catch {
      // A half-written rotation keeps the previous tokens until the file parses again.
    }
    let found: Principal | undefined;
    for (const e of this.entries) if (constantTimeEqual(e.token, m[1]!) && !found) found = { name: e.name, role: e.role };
    return found;
  }
}
