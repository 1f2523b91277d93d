/** The RestorePoint document as `schemas/restorepoint.schema.json` defines it (compiler-core owns the schema). */
/** Cancelled: a person stopped the run (`coffer cancel`); like Failed it made no restore point, but it is not retried. */
export type Phase = 'Pending' | 'Running' | 'Succeeded' | 'PartiallyFailed' | 'Failed' | 'Cancelled';

export interface RestorePoint {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: 'RestorePoint';
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    cluster: string;
    namespace: string;
    policy: string;
    planHash: string;
    sourceCommit: string;
    trigger?: 'schedule' | 'manual' | 'webhook' | 'drill';
    /** On-demand points: when retention removes them (RFC 3339). They never take a GFS slot. */
    expires?: string;
    /** On-demand points: kept until deleted. */
    pinned?: boolean;
    startTime: string;
    endTime?: string;
    phase: Phase;
    retentionTiers?: Array<'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly'>;
    repository: { profile: string; location: string; id?: string; manifestSnapshot?: string };
    resources?: Array<{ apiVersion: string; kind: string; count: number; names: string[] }>;
    volumes?: Array<{
      pvc: string;
      phase: Phase;
      storageClass?: string;
      sizeBytes?: number;
      capacity?: string;
      snapshotId?: string;
      volumeSnapshot?: string;
      bytesAdded?: number;
      error?: string;
    }>;
    artifacts?: Record<string, Record<string, string>>;
    hooks?: unknown;
    stats?: { bytesRead?: number; bytesAdded?: number; durationSeconds?: number };
    errors?: string[];
  };
}

export type RunType = 'backup' | 'restore' | 'retention' | 'verify';
export type RunTrigger = 'schedule' | 'manual' | 'webhook' | 'poll' | 'drill' | 'verify';

/**
 * One backup, restore or retention run, successful or not (kind Run, append-only under runs/). Failed and interrupted
 * runs are recorded here and never as restore points, so `coffer runs` shows what went wrong without a catalog entry
 * that cannot be restored.
 */
export interface RunRecord {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: 'Run';
  metadata: { name: string };
  spec: {
    type: RunType;
    cluster: string;
    namespace?: string;
    policy?: string;
    trigger: RunTrigger;
    /** The schedule slot this run served (RFC 3339), for scheduled runs; on-demand runs leave it out. */
    scheduledFor?: string;
    sourceCommit?: string;
    planHash?: string;
    /** For restores: the restore request name. */
    restore?: string;
  };
  status: {
    phase: Phase;
    startTime: string;
    endTime?: string;
    /** Name of the restore point the run produced (backups that succeeded). */
    restorePoint?: string;
    volumes?: number;
    bytes?: number;
    /** Restore points removed (retention runs). */
    expired?: string[];
    error?: string;
    /** The run's own log (`coffer logs RUN`): timestamped lines of hooks, snapshots and mover Jobs, kept with the run. */
    log?: string[];
  };
}

/** The most recent run per (policy, namespace): what the due-work calculation needs from the catalog. */
export interface LastRun {
  policy: string;
  namespace: string;
  run: string;
  phase: Phase;
  startTime: string;
  endTime?: string;
  scheduledFor?: string;
  trigger: RunTrigger;
  /** Start time of the newest successful backup for the pair, if any (survives later failures). */
  lastSuccessTime?: string;
}
