import { compileSources, type CompileResult } from '../../compiler/compile.ts';
import type { Diagnostic } from '../../compiler/diagnostics.ts';

/** Compiles in-memory files (path → YAML text) exactly as the loader would hand them over. */
export function compileTexts(files: Record<string, string>, commit = ''): CompileResult {
  return compileSources(
    Object.entries(files).map(([path, text]) => ({ path, bytes: new TextEncoder().encode(text) })),
    commit,
  );
}

export function errorsOf(r: CompileResult): Diagnostic[] {
  return r.diagnostics.filter((d) => d.severity === 'error');
}

/** A minimal valid repository; tests override one file to break one rule. */
export const BASE: Record<string, string> = {
  'coffer.yaml': `apiVersion: coffer.dev/v1alpha1
kind: Config
metadata:
  name: coffer
spec:
  cluster: test
`,
  'profile.yaml': `apiVersion: coffer.dev/v1alpha1
kind: Profile
metadata:
  name: fs
spec:
  filesystem:
    path: /srv/backups
  encryption:
    keySecret:
      name: key
      key: passphrase
`,
  'blueprint.yaml': `apiVersion: coffer.dev/v1alpha1
kind: Blueprint
metadata:
  name: bp
spec:
  actions:
    backup:
      phases:
        - name: dump
          func: KubeExec
          args:
            namespace: "{{ namespace }}"
            pod: db-0
            command: [sh, -c, "echo coffer-output path=/x"]
      outputArtifacts:
        dump:
          keyValue:
            path: "{{ phases.dump.output.path }}"
`,
  'policy.yaml': `apiVersion: coffer.dev/v1alpha1
kind: Policy
metadata:
  name: db
spec:
  frequency: "@daily"
  retention:
    daily: 7
  selector:
    namespaces: namespaceObject.metadata.name == "db"
  profile: fs
  blueprint: bp
`,
};

export { capture } from '../cli-capture.ts';
