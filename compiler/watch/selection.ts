/**
 * What a selector edit does on a real cluster: which namespaces each policy protects after the edit, and which it
 * starts or stops protecting compared with the baseline plan — both evaluated against the same namespace list, so the
 * difference is the edit's, never the cluster's drift. The static plan diff can only say "selector changed"; this says
 * "legacy stops being protected". Pure.
 */
export interface NamespaceSelection {
  policy: string;
  /** Namespaces the policy selects with the new plan (sorted). */
  selected: string[];
  /** Newly selected compared with the baseline plan. */
  added: string[];
  /** No longer selected: these namespaces stop being protected by this policy. */
  removed: string[];
}

/**
 * `before` undefined (first plan): every policy with what it selects. Otherwise only the policies whose selection
 * differs, including policies that disappeared (everything they selected is removed).
 */
export function selectionChanges(before: ReadonlyMap<string, readonly string[]> | undefined, after: ReadonlyMap<string, readonly string[]>): NamespaceSelection[] {
  const out: NamespaceSelection[] = [];
  const names = [...new Set([...(before?.keys() ?? []), ...after.keys()])].sort();
  for (const policy of names) {
    const now = [...(after.get(policy) ?? [])].sort();
    if (!before) {
      if (after.has(policy)) out.push({ policy, selected: now, added: [], removed: [] });
      continue;
    }
    const was = new Set(before.get(policy) ?? []);
    const is = new Set(now);
    const added = now.filter((n) => !was.has(n));
    const removed = [...was].filter((n) => !is.has(n)).sort();
    if (added.length || removed.length) out.push({ policy, selected: now, added, removed });
  }
  return out;
}
