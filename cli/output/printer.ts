import { columnWidths, formatTable, tableLine, widenColumns } from '../../reconciler/catalog/open.ts';
import { plainListItem } from '../../reconciler/catalog/plain-yaml.ts';
import { UsageError, type CliIO } from '../io.ts';

/** kubectl's output formats. Machine formats only when asked: a pipe does not change what a command prints. */
export const FORMATS = ['table', 'wide', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof FORMATS)[number];

/** `-o VALUE` checked against what this verb offers, naming the flag and the choices. */
export function outputFormat(value: string | undefined, allowed: readonly OutputFormat[] = FORMATS): OutputFormat {
  const f = (value ?? 'table') as OutputFormat;
  if (!allowed.includes(f)) throw new UsageError(`--output "${value}": expected ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}`);
  return f;
}

export interface Column<T> {
  header: string;
  value: (item: T) => string;
  /** Only with `-o wide`. */
  wide?: boolean;
}

/** How one kind of thing is listed: its columns, its `-o name` and the List kind of `-o json|yaml`. */
export interface ListSpec<T> {
  /** Singular, lower-case, as in `-o name` output: `restorepoint/NAME`. */
  resource: string;
  listKind: string;
  name: (item: T) => string;
  columns: Column<T>[];
}

export { formatTable } from '../../reconciler/catalog/open.ts';

/**
 * Prints a list in the asked format. `-o json|yaml` print the objects themselves as a `…List`; `name` prints
 * `resource/name`; `table` and `wide` print columns, and an empty table prints `empty` to stderr instead (so a script
 * reading stdout sees nothing, like kubectl's "No resources found").
 */
export async function printList<T>(io: CliIO, format: OutputFormat, spec: ListSpec<T>, items: T[], empty: string): Promise<void> {
  if (format === 'json' || format === 'yaml') return printObject(io, format, { apiVersion: 'coffer.dev/v1alpha1', kind: spec.listKind, items });
  if (format === 'name') {
    // One write: 100,000 writes of one line each cost more than reading the catalog did.
    let out = '';
    for (const i of items) out += `${spec.resource}/${spec.name(i)}\n`;
    io.stdout.write(out);
    return;
  }
  const cols = spec.columns.filter((c) => format === 'wide' || !c.wide);
  if (items.length === 0) io.stderr.write(`${empty}\n`);
  else await writeTable(io, cols.map((c) => c.header), items, (i) => cols.map((c) => c.value(i)));
}

/** About how much of a table is written at once (characters). */
const TABLE_CHUNK = 1 << 16;

/**
 * The table `formatTable` prints, without holding it: the cells are made twice, once for the column widths and once
 * to print them a chunk at a time. 100,000 rows of cells kept for the second pass cost more in garbage collection
 * (they live long enough to be copied to the old generation) than making them again does.
 */
export async function writeTable<T>(io: CliIO, headers: string[], items: readonly T[], cells: (item: T) => string[]): Promise<void> {
  const widths = columnWidths(headers);
  for (const item of items) widenColumns(widths, cells(item));
  await writeTableLines(io, headers, widths, (function* () {
    for (const item of items) yield cells(item);
  })());
}

/** The lines of a table whose column widths are known (`columnWidths` widened by every row), a chunk at a time. */
export async function writeTableLines(io: CliIO, headers: string[], widths: readonly number[], rows: Iterable<string[]>): Promise<void> {
  let out = `${tableLine(headers, widths)}\n`;
  for (const row of rows) {
    out += `${tableLine(row, widths)}\n`;
    if (out.length >= TABLE_CHUNK) {
      await writeOut(io, out);
      out = '';
    }
  }
  await writeOut(io, out);
}

/** Writes to stdout, waiting for 'drain' when the stream asks (a pipe to a slow reader). */
async function writeOut(io: CliIO, text: string): Promise<void> {
  if (!io.stdout.write(text)) await new Promise<void>((r) => io.stdout.once('drain', () => r()));
}

/** One object (or list document) as JSON or YAML; the YAML library loads only when YAML is asked for. */
export async function printObject(io: CliIO, format: 'json' | 'yaml', value: unknown): Promise<void> {
  if (format === 'json') io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else io.stdout.write((await import('yaml')).default.stringify(value));
}

/** What `JSON.stringify({ items: [...] }, null, 2)` puts around the items: they sit at the List's depth. */
const BATCH_OPEN = '{\n  "items": [';
const BATCH_CLOSE = '\n  ]\n}';

/**
 * The same List document as `printList`'s `-o json|yaml`, written batch by batch as the batches arrive (honouring
 * back-pressure), so `-o json` of 100,000 restore points never holds them all. `continueToken` becomes the List's
 * `metadata.continue`, as in the Kubernetes list API.
 */
export async function writeListStream(io: CliIO, format: 'json' | 'yaml', kind: string, batches: AsyncIterable<unknown[]>, continueToken?: () => string | undefined): Promise<void> {
  const write = (text: string): Promise<void> => writeOut(io, text);
  let n = 0;
  const yaml = format === 'yaml' ? (await import('yaml')).default : undefined;
  if (format === 'json') {
    await write(`{\n  "apiVersion": "coffer.dev/v1alpha1",\n  "kind": ${JSON.stringify(kind)},\n  "items": [`);
    for await (const batch of batches) {
      if (!batch.length) continue;
      // The batch as the List's `items` would print it, cut out of one native stringify: stringifying item by item and
      // indenting with a regular expression took five times as long (and indented after a U+2028 inside a string).
      const text = JSON.stringify({ items: batch }, null, 2);
      await write(`${n ? ',' : ''}${text.slice(BATCH_OPEN.length, text.length - BATCH_CLOSE.length)}`);
      n += batch.length;
    }
    const token = continueToken?.();
    await write(`${n ? '\n  ' : ''}]${token ? `,\n  "metadata": {\n    "continue": ${JSON.stringify(token)}\n  }` : ''}\n}\n`);
    return;
  }
  await write(`apiVersion: coffer.dev/v1alpha1\nkind: ${kind}\nitems:`);
  for await (const batch of batches) {
    if (!batch.length) continue;
    // Each item as `yaml.stringify([item])` prints it — by plain-yaml.ts's emitter when the item has the plain shape
    // (~200 µs less a restore point) — indented at line feeds only: a multiline regular expression also starts a
    // "line" after a U+2028 inside a string.
    await write(`${n ? '' : '\n'}${batch.map((item) => indentLines(plainListItem(item) ?? yaml!.stringify([item]))).join('')}`);
    n += batch.length;
  }
  const token = continueToken?.();
  await write(`${n ? '' : ' []\n'}${token ? `metadata:\n  continue: ${token}\n` : ''}`);
}

/** Two spaces before every non-empty line (lines end at line feeds: YAML's writer breaks lines with nothing else). */
function indentLines(text: string): string {
  return text
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');
}
