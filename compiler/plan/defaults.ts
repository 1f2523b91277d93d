/**
 * Kinds a policy never captures unless `defaultExclusions: false`: rebuilt by controllers,
 * or meaningless (even harmful) to restore — like Velero's and K10's built-in exclusions.
 */
export const DEFAULT_EXCLUDED_KINDS = [
  'ControllerRevision.apps',
  'EndpointSlice.discovery.k8s.io',
  'Endpoints',
  'Event',
  'Event.events.k8s.io',
  'Lease.coordination.k8s.io',
  'PodMetrics.metrics.k8s.io',
] as const;

export const DEFAULT_TIMEZONE = 'UTC';
export const DEFAULT_PHASE_TIMEOUT = '10m';
/** How long one restore verification (spec.verify) may take when its policy does not say. */
export const DEFAULT_VERIFY_TIMEOUT = '30m';
