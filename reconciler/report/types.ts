/** The ComplianceReport document (`schemas/compliancereport.schema.json`), shaped like OpenReports `Report`. */
export type ResultStatus = 'pass' | 'fail' | 'warn' | 'error' | 'skip';
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';
/** `last-verified` is evaluated only for policies with `spec.verify`. */
export type Rule = 'rpo' | 'last-backup-succeeded' | 'retention' | 'dr-drill' | 'last-verified';
export const RULES: readonly Rule[] = ['rpo', 'last-backup-succeeded', 'retention', 'dr-drill', 'last-verified'];

export interface ComplianceResult {
  source: 'coffer';
  policy: string;
  rule: Rule;
  result: ResultStatus;
  severity?: Severity;
  category: 'Data Protection';
  message: string;
  scored: boolean;
  resources: Array<{ apiVersion: 'v1'; kind: 'Namespace'; name: string }>;
  properties: Record<string, string>;
}

export interface ComplianceSummary {
  pass: number;
  fail: number;
  warn: number;
  error: number;
  skip: number;
}

export interface ComplianceReport {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: 'ComplianceReport';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    cluster: string;
    generatedAt: string;
    sourceCommit?: string;
    planHash: string;
    source: 'coffer';
    summary: ComplianceSummary;
    results: ComplianceResult[];
  };
}
