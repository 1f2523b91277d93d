import YAML from 'yaml';

/**
 * The one writer of catalog documents: plain YAML a human reviews in a pull request. Every RestorePoint, Run and
 * latest-run pointer Coffer commits goes through here (and the bench builds its catalogs with it), so what the
 * readers are measured and tested against is exactly what Coffer writes.
 */
export function documentText(doc: unknown): string {
  return YAML.stringify(doc);
}
