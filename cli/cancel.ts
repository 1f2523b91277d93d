import { readFileSync } from 'node:fs';
import { parseArgs } from './args.ts';
import { type Command, UsageError } from './io.ts';
import { printObject } from './output/printer.ts';

const HELP = `Cancel a backup or restore that coffer run is doing or about to do (over its API, operate role): a scheduled
backup or declared restore (restores/ in Git) run by its name, or an on-demand backup or restore by the id the API
returned; a replica on standby hands it to the one running it. A waiting one never starts. A running backup is
interrupted: its blueprints' finally phases still run (no app stays quiesced), it makes no restore point, and its
run is recorded as Cancelled, saying who cancelled it. A running restore stops between objects or volumes; what it
already created stays, and its RestoreResult (phase Cancelled) says so.

Usage: coffer cancel RUN|BACKUP_ID|RESTORE_ID --server URL [--token-file FILE]

  RUN is a backup run's name, e.g. backup-20261207-013000-1a2b3c, as coffer run logs it when the run starts
  ("→ backing up shop/hourly (run backup-…)", or the run-start event's "run" with --json), or a declared
  restore's ("restoring NAME into NAMESPACE (run restore-…)"). The ids of POST /api/v1/backups and
  /api/v1/restores are listed by GET /api/v1/backups and /api/v1/restores; restore ids start with restore-.

Flags:
      --server URL         coffer run --listen address, e.g. http://127.0.0.1:8080 (default $COFFER_SERVER);
                           with two replicas, the one holding the Lease runs the scheduled backups
      --token-file FILE    API token with the operate role (default $COFFER_API_TOKEN)
  -o, --output FORMAT      text (default) or json (the job or run)
`;

/**
 * A backup run's name (catalog/layout.ts runId), as opposed to an API backup job's id (backup-20261207t013000z-1a2b3c).
 * API restore jobs are named like restore runs, so restore- ids go to the restore jobs.
 */
const RUN_NAME = /^backup-\d{8}-\d{6}-[0-9a-f]+$/;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { server: { type: 'string' }, 'token-file': { type: 'string' }, output: { type: 'string', short: 'o', default: 'text' }, help: { type: 'boolean', short: 'h' } } });
  if (v.help || positionals.length === 0) {
    io.stdout.write(HELP);
    return v.help ? 0 : 1;
  }
  if (positionals.length > 1) throw new UsageError('coffer cancel takes one RUN, BACKUP_ID or RESTORE_ID');
  if (v.output !== 'text' && v.output !== 'json') throw new UsageError(`--output "${v.output}": expected text or json`);
  const server = v.server ?? io.env.COFFER_SERVER;
  if (!server) throw new UsageError('--server is required (or $COFFER_SERVER): the address of coffer run --listen');
  let token = io.env.COFFER_API_TOKEN;
  if (v['token-file']) {
    try {
      token = readFileSync(v['token-file'], 'utf8').trim();
    } catch (e) {
      throw new UsageError(`--token-file ${v['token-file']}: ${(e as Error).message}`);
    }
  }
  if (!token) throw new UsageError('an API token with the operate role is needed: --token-file FILE or $COFFER_API_TOKEN');
  const id = positionals[0]!;
  let kind = RUN_NAME.test(id) ? 'run' : id.startsWith('restore-') ? 'restore' : 'backup';
  const post = async (k: string) => {
    let res: Response;
    try {
      res = await fetch(new URL(`/api/v1/${k}s/${encodeURIComponent(id)}/cancel`, server), { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    } catch (e) {
      throw new UsageError(`cannot reach ${server}: ${(e as Error).message}`);
    }
    return { res, body: (await res.json().catch(() => ({}))) as { error?: string; state?: string; id?: string; forwarded?: boolean; to?: string } };
  };
  let { res, body } = await post(kind);
  // API restore jobs and declared restores' runs share the restore- names: not a job, then a run in flight.
  if (res.status === 404 && kind === 'restore') {
    const asRun = await post('run');
    if (asRun.res.status !== 404) ({ res, body, kind } = { ...asRun, kind: 'run' });
  }
  if (!res.ok) throw new UsageError(`${server}: ${body.error ?? `HTTP ${res.status}`}`);
  if (v.output === 'json') await printObject(io, 'json', body);
  else if (kind === 'run') io.stdout.write(`run/${id} cancelling (${body.forwarded ? `asked of ${body.to}, which runs it` : 'it is being interrupted'}; coffer describe run ${id} shows it once recorded)\n`);
  else io.stdout.write(`${kind}/${id} ${body.state === 'cancelled' ? 'cancelled' : `cancelling (${body.state}; it is being interrupted)`}\n`);
  return 0;
};
