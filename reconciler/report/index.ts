export * from './types.ts';
export { evaluateCompliance, summarize, worstFirst, ago, namespaceOf, type ComplianceInput } from './compliance.ts';
export { complianceChanges, complianceMessage, type ComplianceChange } from './changes.ts';
export { renderMarkdown, renderTable, RULE_TITLES } from './render.ts';
export { computeCompliance, publishCompliance, readCommittedReport, reportsDir, type PublishResult } from './publish.ts';
