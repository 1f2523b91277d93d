import { readFileSync } from 'node:fs';
import { parseArgs } from './args.ts';
import { type Command, UsageError } from './io.ts';
import { printObject } from './output/printer.ts';

const HELP = `Cancel an on-demand backup or a restore that coffer run is doing or about to do (over its API, operate
role). A waiting one never starts. A running backup is interrupted: its blueprints' finally phases still run (no app
stays quiesced) and its runs are committed as failed, saying who cancelled them — never a partial restore point. A
running restore stops; what it already created stays, and its RestoreResult says so.

Usage: coffer cancel BACKUP_ID|RESTORE_ID --server URL [--token-file FILE]

  The id POST /api/v1/backups or /api/v1/restores returned (GET /api/v1/backups, /api/v1/restores list them);
  restore ids start with restore-.

Flags:
      --server URL         coffer run --listen address, e.g. http://127.0.0.1:8080 (default $COFFER_SERVER)
      --token-file FILE    API token with the operate role (default $COFFER_API_TOKEN)
  -o, --output FORMAT      text (default) or json (the job)
`;

export const run: Command = async (argv, io) => {
  const { values: v, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { server: { type: 'string' }, 'token-file': { type: 'string' }, output: { type: 'string', short: 'o', default: 'text' }, help: { type: 'boolean', short: 'h' } } });
  if (v.help || positionals.length === 0) {
    io.stdout.write(HELP);
    return v.help ? 0 : 1;
  }
  if (positionals.length > 1) throw new UsageError('coffer cancel takes one BACKUP_ID or RESTORE_ID');
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
  const kind = id.startsWith('restore-') ? 'restore' : 'backup';
  let res: Response;
  try {
    res = await fetch(new URL(`/api/v1/${kind}s/${encodeURIComponent(id)}/cancel`, server), { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  } catch (e) {
    throw new UsageError(`cannot reach ${server}: ${(e as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string; state?: string; id?: string };
  if (!res.ok) throw new UsageError(`${server}: ${body.error ?? `HTTP ${res.status}`}`);
  if (v.output === 'json') await printObject(io, 'json', body);
  else io.stdout.write(`${kind}/${id} ${body.state === 'cancelled' ? 'cancelled' : `cancelling (${body.state}; it is being interrupted)`}\n`);
  return 0;
};
