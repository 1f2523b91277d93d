/**
 * The files `coffer init` writes: the smallest repository that validates and does
 * something real (daily backups of labelled namespaces, GFS retention, a quiesce hook).
 * Pure: returns path → content; the CLI decides about the filesystem.
 */
export interface ScaffoldOptions {
  cluster: string;
  storage: 'filesystem' | 's3';
  bucket?: string;
}

export function scaffold(o: ScaffoldOptions): Record<string, string> {
  const profile =
    o.storage === 's3'
      ? `  s3:
    bucket: ${o.bucket ?? 'my-coffer-backups'}
    prefix: ${o.cluster}
    region: us-east-1
    # endpoint: https://minio.example.com:9000   # for S3-compatible stores
    # forcePathStyle: true
    credentials:
      secretName: coffer-s3-credentials      # keys aws_access_key_id / aws_secret_access_key
      namespace: coffer-system
`
      : `  filesystem:
    path: /var/lib/coffer/repository
`;
  return {
    'coffer.yaml': `# Coffer repository configuration. Docs: coffer explain config
apiVersion: coffer.dev/v1alpha1
kind: Config
metadata:
  name: coffer
spec:
  cluster: ${o.cluster}
  catalog:
    branch: coffer-catalog   # where Coffer commits restore points
  defaults:
    timezone: UTC
`,
    'profiles/default.yaml': `# Where backup data goes. Credentials and keys are Secret references, never values.
apiVersion: coffer.dev/v1alpha1
kind: Profile
metadata:
  name: default
spec:
${profile}  encryption:
    keySecret:
      name: coffer-repository-key   # kubectl -n coffer-system create secret generic coffer-repository-key --from-literal=passphrase=…
      namespace: coffer-system
      key: passphrase
`,
    'policies/daily.yaml': `# Back up every namespace labelled backup.coffer.dev/enabled=true once a day.
# Docs: coffer explain policy.spec
apiVersion: coffer.dev/v1alpha1
kind: Policy
metadata:
  name: daily
spec:
  frequency: "@daily"
  retention:
    daily: 7
    weekly: 4
    monthly: 12
  selector:
    namespaces: |
      has(namespaceObject.metadata.labels) &&
      namespaceObject.metadata.labels["backup.coffer.dev/enabled"] == "true"
  profile: default
  blueprints:
    - name: quiesce
      workloads: |
        has(workload.metadata.annotations) &&
        workload.metadata.annotations["backup.coffer.dev/quiesce"] == "true"
`,
    'blueprints/quiesce.yaml': `# Scale a workload to zero while its volumes are snapshotted; always scale it back.
apiVersion: coffer.dev/v1alpha1
kind: Blueprint
metadata:
  name: quiesce
spec:
  actions:
    backup:
      phases:
        - name: down
          func: ScaleWorkload
          args:
            namespace: "{{ namespace }}"
            kind: "{{ workload.kind }}"
            name: "{{ workload.name }}"
            replicas: 0
      finally:
        - name: up
          func: ScaleWorkload
          args:
            namespace: "{{ namespace }}"
            kind: "{{ workload.kind }}"
            name: "{{ workload.name }}"
            replicas: "{{ phases.down.output.originalReplicas }}"
`,
  };
}
