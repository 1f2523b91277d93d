import type { Catalog } from '../catalog/index.ts';
import { parseDocument } from '../catalog/document.ts';
import { objectReader } from '../git/objects.ts';
import type { LastVerification } from './due.ts';
import type { VerificationResultDoc } from './result.ts';

/**
 * The newest VerificationResult of every (namespace, policy) of this cluster at the catalog tip: walks only
 * `verifications/<cluster>/` (three tree levels) and reads one document per pair — names are run ids
 * (`verify-<yyyymmdd>-<hhmmss>-<random>`), so the newest sorts last. Filter to one pair with `only`.
 */
export async function latestVerifications(catalog: Catalog, only?: { namespace: string; policy: string }): Promise<Array<LastVerification & { doc: VerificationResultDoc }>> {
  const tip = await catalog.tip();
  if (!tip) return [];
  const objects = objectReader(catalog.source.gitdir);
  const root = objects.treeAt(tip, `verifications/${catalog.cluster}`);
  if (!root) return [];
  const out: Array<LastVerification & { doc: VerificationResultDoc }> = [];
  for (const ns of objects.readTree(root)) {
    if (ns.type !== 'tree' || (only && ns.name !== only.namespace)) continue;
    for (const pol of objects.readTree(ns.oid)) {
      if (pol.type !== 'tree' || (only && pol.name !== only.policy)) continue;
      const newest = objects
        .readTree(pol.oid)
        .filter((e) => e.type === 'blob' && e.name.endsWith('.yaml'))
        .sort((a, b) => a.name.localeCompare(b.name))
        .at(-1);
      if (!newest) continue;
      let doc: VerificationResultDoc | undefined;
      try {
        doc = parseDocument(objects.read(newest.oid).data.toString('utf8')) as VerificationResultDoc | undefined;
      } catch {
        // A hand-broken document: that pair counts as never verified (compliance says so) until the next verification.
        continue;
      }
      if (doc?.kind !== 'VerificationResult') continue;
      out.push({ namespace: ns.name, policy: pol.name, name: doc.metadata.name, startTime: doc.spec.startTime, phase: doc.spec.phase, doc });
    }
  }
  return out;
}
