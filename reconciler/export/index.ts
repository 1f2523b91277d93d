/**
 * Manifest export of a backup run: discovery, exclusions, CEL selection, cleaning, the encrypted bundle for the
 * repository and the Git-safe summary for the RestorePoint.
 */
export { exportNamespace, NamespaceNotFoundError, type ExportOptions, type ExportResult } from './export.ts';
export { cleanManifest, OWNER_REFERENCES_ANNOTATION } from './clean.ts';
export { DEFAULT_EXCLUDED_RESOURCES, exportableResources, objectExclusion, controlledExclusion, resourceMatches, isServiceAccountToken } from './exclusions.ts';
export { selectObjects, objectRef, type ObjectSelector, type SelectionResult } from './select.ts';
export { buildBundle, bundlePath, summarize, BUNDLE_FORMAT, type BundleEntry, type ExportedObject, type ResourceSummary, type KindSummary } from './bundle.ts';
export { writeBundle, MANIFEST_PATH, type WriteBundleOptions } from './write.ts';
export { backupNamespace, hookOutputPath, collectArtifacts, type NamespaceBackupInput, type NamespaceBackupResult } from './namespace-backup.ts';
