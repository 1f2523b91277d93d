/** A restore the user asked for cannot be done as asked (bad flag, unknown restore point, bad CEL/transform, damaged data). */
export class RestoreError extends Error {
  constructor(
    readonly code: 'E_RESTORE_POINT' | 'E_RESTORE_ARGS' | 'E_RESTORE_CEL' | 'E_RESTORE_TRANSFORM' | 'E_RESTORE_DATA' | 'E_RESTORE_FAILED',
    message: string,
  ) {
    super(message);
    this.name = 'RestoreError';
  }
}
