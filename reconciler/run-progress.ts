/** Where a backup run is: listing objects, blueprint hooks (with the snapshots they wrap), volume movers, the manifest bundle, the catalog commit. */
export type RunPhase = 'export' | 'hooks' | 'volumes' | 'manifests' | 'commit';

/** A backup run's progress so far; counts only grow within a run. */
export interface RunProgress {
  phase: RunPhase;
  /** Objects listed and spooled so far. */
  objects: number;
  /** Bytes read so far: by running movers (as their logs report it), then each volume's final size, then the manifest bundle. */
  bytes: number;
  volumesDone: number;
  volumesTotal: number;
}

/** A step of progress: a new phase, and counts added (`volumesTotal` is set). */
export interface RunProgressUpdate {
  phase?: RunPhase;
  objects?: number;
  bytes?: number;
  volumesDone?: number;
  volumesTotal?: number;
}

/**
 * Keeps a run's progress and hands it on at most once per `intervalMs` — except a new phase, which always goes out
 * at once (carrying the counts the previous phase ended with), so a watcher sees every phase whatever the timing.
 * The clock is passed in; updates between two emits are dropped, never queued.
 */
export class ProgressTracker {
  private readonly state: RunProgress = { phase: 'export', objects: 0, bytes: 0, volumesDone: 0, volumesTotal: 0 };
  private lastEmit = -Infinity;
  private lastPhase: RunPhase | undefined;

  constructor(
    private readonly emit: (p: RunProgress) => void,
    private readonly intervalMs = 1000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Applies a change: a new phase, or counts added (`objects`, `bytes`, `volumesDone`) / set (`volumesTotal`). */
  update = (u: RunProgressUpdate): void => {
    const s = this.state;
    if (u.phase) s.phase = u.phase;
    s.objects += u.objects ?? 0;
    s.bytes += u.bytes ?? 0;
    s.volumesDone += u.volumesDone ?? 0;
    if (u.volumesTotal !== undefined) s.volumesTotal = u.volumesTotal;
    const t = this.clock();
    if (s.phase === this.lastPhase && t - this.lastEmit < this.intervalMs) return;
    this.lastPhase = s.phase;
    this.lastEmit = t;
    this.emit({ ...s });
  };
}
