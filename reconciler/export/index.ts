/**
 * Manifest export of a backup run: discovery, exclusions, CEL selection, cleaning, the encrypted bundle for the
 * repository and the Git-safe summary for the RestorePoint.
 */
export { exportNamespace, exportNamespaceTo, NamespaceNotFoundError, type ExportOptions, type ExportResult, type ExportStreamResult } from './export.ts';
export { BundleSpool } from './spool.ts';
export { cleanManifest, OWNER_REFERENCES_ANNOTATION } from './clean.ts';
export { DEFAULT_EXCLUDED_RESOURCES, exportableResources, objectExclusion, controlledExclusion, resourceMatches, isServiceAccountToken } from './exclusions.ts';
export { selectObjects, objectRef, type ObjectSelector, type SelectionResult } from './select.ts';
export { buildBundle, bundleIndex, bundlePath, objectYaml, summarize, SummaryBuilder, BUNDLE_FORMAT, BUNDLE_YAML, type BundleEntry, type ExportedObject, type ResourceSummary, type KindSummary } from './bundle.ts';
export { writeBundle, MANIFEST_PATH, type WriteBundleOptions } from './write.ts';
export { backupNamespace, hookOutputPath, collectArtifacts, type NamespaceBackupInput, type NamespaceBackupResult } from './namespace-backup.ts';
