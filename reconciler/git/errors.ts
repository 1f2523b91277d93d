/** Errors a user can fix (wrong URL, missing branch, bad token); each carries a stable code the CLI prints without a stack. */
export class GitSourceError extends Error {
  readonly code: string;
  constructor(code: `E_${string}`, message: string) {
    super(message);
    this.name = 'GitSourceError';
    this.code = code;
  }
}

/** Strips `user:password@` from a URL so tokens never reach logs or error messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(\w[\w+.-]*:\/\/)[^/@]*@/, '$1');
}
