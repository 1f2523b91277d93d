/**
 * Errors raised by Coffer's CEL layer. Both carry a stable code (the CLI prints
 * them without a stack) and the 0-based offset inside the expression, so the
 * compiler can add the expression's own file position and report file:line:col.
 */

/** A compile-time problem: syntax, unknown variable or function, type error, limit exceeded. */
export class CelError extends Error {
  readonly code = 'E_CEL';
  /** 0-based position of the offending token inside the expression source. */
  readonly offset: number;
  /** End of the offending range (exclusive), when known. */
  readonly endOffset: number;
  /** The expression as written. */
  readonly source: string;
  constructor(message: string, source: string, offset: number, endOffset = offset) {
    super(message);
    this.name = 'CelError';
    this.source = source;
    this.offset = Math.max(0, Math.min(offset, source.length));
    this.endOffset = Math.max(this.offset, Math.min(endOffset, source.length));
  }
}

/**
 * A run-time problem evaluating an already compiled expression: a missing key,
 * a bad conversion, or the evaluation cost budget running out.
 */
export class CelEvalError extends Error {
  readonly code = 'E_CEL_EVAL';
  /** 0-based position inside the expression of the node that failed, when known. */
  readonly offset: number | undefined;
  readonly source: string;
  /** Library reason, e.g. 'no_such_key', or 'cost_limit' / 'size_limit' for our own bounds. */
  readonly reason: string;
  constructor(message: string, source: string, reason: string, offset?: number) {
    super(message);
    this.name = 'CelEvalError';
    this.source = source;
    this.reason = reason;
    this.offset = offset;
  }
}
