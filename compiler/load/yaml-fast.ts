/**
 * The fast path of policy file parsing (load/yaml.ts). The `yaml` library keeps every node's source range, which
 * file:line:col needs, but builds that tree slowly on a cold start: ~50 ms of the ~200 ms of CPU a `coffer validate`
 * of the example repository took. js-yaml reads the same values in a fifth of that. So a file is read with js-yaml,
 * and the `yaml` library parses it only when a diagnostic needs a position (load/yaml.ts makes `doc` lazy), or when
 * the file is one where the two libraries could disagree: then `yaml` alone reads it, as before.
 *
 * The two must give the same documents whenever this returns any: the schema below is `yaml`'s YAML 1.2 core schema,
 * and `test/compiler/yaml-fast.test.ts` compares both on every YAML file of the repository and thousands of mutants.
 */
import { FAILSAFE_SCHEMA, loadAll, Type } from 'js-yaml';

/** `yaml`'s core schema (yaml/dist/schema/core): the same patterns, tried in the same order. */
const CORE_SCHEMA = FAILSAFE_SCHEMA.extend({
  implicit: [
    new Type('tag:yaml.org,2002:null', { kind: 'scalar', resolve: (s: string | null) => s === null || /^(?:~|[Nn]ull|NULL)?$/.test(s), construct: () => null }),
    new Type('tag:yaml.org,2002:bool', { kind: 'scalar', resolve: (s: string | null) => s !== null && /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s), construct: (s: string) => s[0] === 't' || s[0] === 'T' }),
    new Type('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: (s: string | null) => s !== null && /^(?:0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+)$/.test(s),
      construct: (s: string) => (s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10)),
    }),
    new Type('tag:yaml.org,2002:float', {
      kind: 'scalar',
      resolve: (s: string | null) =>
        s !== null && /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/.test(s),
      construct: (s: string) => (s.slice(-3).toLowerCase() === 'nan' ? NaN : /inf$/i.test(s) ? (s[0] === '-' ? -Infinity : Infinity) : parseFloat(s)),
    }),
  ],
});

/**
 * Text where the libraries differ, or where `yaml` reports what js-yaml accepts silently: directives (`%YAML 1.1`
 * changes the schema), explicit keys and collections as keys (js-yaml joins `[a, b]` into "a,b"), a flow collection
 * closed at the start of a line (`yaml` warns), lines long enough for the 1,024-character implicit key limit. A false
 * alarm only costs the fast path. (Anchors are found while parsing, below.)
 */
const SLOW = [
  /^%/m,
  /\r(?!\n)/, // a lone carriage return breaks a line in YAML 1.2, not in js-yaml's comments
  /\ufeff/, // a byte order mark after the start (`yaml` skips it before a document, js-yaml keeps it)
  /^ *\t/m, // a tab in indentation: `yaml` rejects some that js-yaml reads as blank (a block scalar's last line)
  /^[ \t]*(?:-[ \t]+)*\?(?:[ \t]|$)/m,
  /[[{,][ \t]*\?(?:[ \t]|$)/,
  /[\]}][ \t]*:(?:[ \t]|$)/m,
  /^[ \t]*[\]}]/m,
  /["'\]},]#/, // a comment not separated from a quoted scalar or a flow indicator: an error in `yaml` alone
  /^[ \t]*-[ \t]*(?:#.*)?$/m, // an empty sequence entry: js-yaml then takes a less indented `-` as the next entry
  /^---[ \t]+[^\s#]/m, // content on the `---` line: `yaml` refuses a block mapping there, js-yaml reads it
];
const LONG_LINE = 1000;

/**
 * The documents of `text` as plain mappings, or undefined when the `yaml` library must read it: the text matches
 * SLOW, js-yaml rejects or warns about it, it has an anchor (`yaml` limits alias expansion, js-yaml shares objects;
 * every alias needs an anchor), a document is empty or not a mapping (those are diagnostics), or a key came from null
 * or a mapping (`yaml` names them "" and by their YAML text, js-yaml "null" and "[object Object]").
 */
export function fastDocuments(text: string): Record<string, unknown>[] | undefined {
  if (SLOW.some((re) => re.test(text)) || hasLongLine(text)) return undefined;
  let slow = false;
  let values: unknown[];
  try {
    values = loadAll(text, null, {
      schema: CORE_SCHEMA,
      onWarning: () => (slow = true),
      // At a node's close js-yaml's state holds that node's anchor (collections restore theirs after their children).
      listener: (event, state) => {
        if (event === 'close' && (state as unknown as { anchor: string | null }).anchor !== null) slow = true;
      },
    });
  } catch {
    return undefined;
  }
  if (slow || values.length === 0) return undefined;
  for (const v of values) if (!isMapping(v) || suspectKey(v)) return undefined;
  return values as Record<string, unknown>[];
}

/** (A loop: the regular expression /[^\n]{1000}/ takes ~10 ms on 36 KB.) */
function hasLongLine(text: string): boolean {
  let start = 0;
  for (let nl = text.indexOf('\n'); ; nl = text.indexOf('\n', start)) {
    if ((nl < 0 ? text.length : nl) - start >= LONG_LINE) return true;
    if (nl < 0) return false;
    start = nl + 1;
  }
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function suspectKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(suspectKey);
  if (!isMapping(v)) return false;
  for (const [k, x] of Object.entries(v)) if (k === 'null' || k === '[object Object]' || suspectKey(x)) return true;
  return false;
}
