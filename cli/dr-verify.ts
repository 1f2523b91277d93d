import { verifyNow } from '../reconciler/verify/manual.ts';
import { workstationIdentity } from '../reconciler/volumes/run-lease.ts';
import { parseDuration } from '../reconciler/blueprint/functions/Wait.ts';
import { type CliIO, UsageError } from './io.ts';
import { outputFormat, printList, printObject } from './output/printer.ts';
import { verificationSpec } from './output/resources.ts';
import { reconcilerContext } from './reconcile-flags.ts';

export const VERIFY_HELP = `  verify  restore verification now, outside the policy's verify schedule: restore the newest successful restore
          point of NAMESPACE (or --restore-point) into a scratch namespace, wait until it is ready, run the
          blueprints' integrity check (validate) and the policy's spec.verify checks, delete the scratch namespace,
          and commit a VerificationResult (trigger manual) with the RTO to the catalog branch
          (verifications/<cluster>/<namespace>/<policy>/<name>.yaml). It counts as the pair's newest verification
          (compliance last-verified, the next scheduled slot). --policy is needed when several policies back
          NAMESPACE up and not exactly one of them declares spec.verify. Exit status 1 when it failed.
`;

/** `coffer dr verify`: one restore verification through the same runner as the scheduled ones, printed by the one printer. */
export async function runVerify(v: Record<string, string | boolean | string[] | undefined>, io: CliIO): Promise<number> {
  const format = outputFormat(v.output as string | undefined);
  const timeout = v.timeout as string | undefined;
  if (timeout !== undefined) {
    try {
      parseDuration(timeout);
    } catch {
      throw new UsageError(`--timeout "${timeout}": expected a duration such as 30m or 1h30m`);
    }
  }
  if (!v.namespace && !v['restore-point']) throw new UsageError('--namespace is required (or --restore-point NAME); see coffer dr --help');
  const { transform, output: _output, ...scalar } = v;
  if (transform) throw new UsageError('--transform does not apply to coffer dr verify: the scratch copy must be the restore point as it is');
  const ctx = await reconcilerContext(scalar as Record<string, string | boolean | undefined>, io);
  const human = format === 'table' || format === 'wide';
  const { doc, commit } = await verifyNow({
    source: ctx.source,
    client: ctx.client,
    ...(v.namespace ? { namespace: v.namespace as string } : {}),
    ...(v.policy ? { policy: v.policy as string } : {}),
    ...(v['restore-point'] ? { restorePoint: v['restore-point'] as string } : {}),
    ...(timeout ? { timeout } : {}),
    ...(ctx.moverImage ? { moverImage: ctx.moverImage } : {}),
    ...(ctx.cofferNamespace ? { cofferNamespace: ctx.cofferNamespace } : {}),
    env: io.env,
    runLease: { identity: workstationIdentity() },
    ...(human ? { log: (m: string) => io.stderr.write(`  ${m.split('\n')[0]}\n`) } : {}),
  });
  if (format === 'json' || format === 'yaml') await printObject(io, format, doc);
  else await printList(io, format, verificationSpec(), [doc], '');
  if (human) {
    for (const e of doc.spec.errors ?? []) io.stderr.write(`error: ${e}\n`);
    io.stderr.write(`VerificationResult "${doc.metadata.name}" ${doc.spec.phase === 'Succeeded' ? 'succeeded' : 'failed'}, recorded in ${commit.path}. Run coffer get runs --type verify -n ${doc.spec.namespace} for the history.\n`);
  }
  return doc.spec.phase === 'Succeeded' ? 0 : 1;
}
