export type DiffKind = 'Config' | 'Policy' | 'Profile' | 'Blueprint' | 'TransformSet' | 'Restore';

export interface FieldChange {
  /** Dotted path inside the plan entry, e.g. retention.daily or actions.backup.phases[dump].args.command. */
  path: string;
  before?: unknown;
  after?: unknown;
}

export interface EntryChange {
  kind: DiffKind;
  name: string;
  change: 'added' | 'removed' | 'changed';
  fields: FieldChange[];
}

export type RiskSeverity = 'high' | 'medium';

/** A change a reviewer must not miss: data will be deleted, apps stop being protected, RPO worsens. */
export interface Risk {
  severity: RiskSeverity;
  /** Stable identifier: retention-reduced, policy-removed, policy-paused, selector-narrowed, selector-changed, frequency-lowered, profile-changed, encryption-key-changed, repository-moved, immutability-reduced, export-disabled, snapshot-disabled, blueprint-unbound, cluster-renamed, catalog-moved, restore-requested, verify-added, verify-removed, verify-frequency-lowered, verify-check-removed, verify-check-weakened. */
  code: string;
  kind: DiffKind;
  name: string;
  message: string;
}

export interface PlanDiff {
  base: { commit: string; hash: string };
  head: { commit: string; hash: string };
  changes: EntryChange[];
  risks: Risk[];
}
