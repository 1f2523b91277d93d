/**
 * The storage a repository lives on. Everything above this interface is
 * backend-agnostic; a backend only stores opaque, already-encrypted objects.
 */
export type FileType = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks';

export interface FileInfo {
  name: string;
  size: number;
}

export interface Backend {
  /** Human-readable location (`file:///…`, `s3://bucket/prefix`) for messages. */
  readonly location: string;
  /** Whole object. Throws an error with code `E_REPO_NOT_FOUND` when absent. */
  get(type: FileType, name: string): Promise<Buffer>;
  /** A byte range of an object (pack files are read by range). */
  getRange(type: FileType, name: string, offset: number, length: number): Promise<Buffer>;
  /**
   * Optional: read `into.length` bytes at `offset` into the caller's buffer (restore reads pack
   * ranges straight into shared memory its workers read, without a copy). Same errors as getRange.
   */
  getRangeInto?(type: FileType, name: string, offset: number, into: Uint8Array): Promise<void>;
  /** Atomic: readers never see a partial object (tmp + rename on files, single PUT or completed multipart on S3). */
  put(type: FileType, name: string, data: Buffer): Promise<void>;
  /**
   * Optional: like `put`, but only when no object of that name exists, decided atomically (false when one does).
   * Repository initialisation needs it: two first backups racing must not both write a `config`.
   */
  putIfAbsent?(type: FileType, name: string, data: Buffer): Promise<boolean>;
  /**
   * Optional: an object written in pieces, in order, then committed under its name (atomic and durable as `put`) or
   * aborted — so a writer need not hold the whole object (the file backend: a temporary file, renamed on commit).
   */
  createTemp?(type: FileType): Promise<TempWriter>;
  /** Idempotent: deleting a missing object is not an error. */
  delete(type: FileType, name: string): Promise<void>;
  list(type: FileType): Promise<FileInfo[]>;
  stat(type: FileType, name: string): Promise<FileInfo | undefined>;
  /**
   * Optional: leftovers of writes that never finished (a killed process's temporary files), which `list` hides.
   * Only backends that write through temporary names have them (S3 puts are atomic, aborted uploads expire).
   */
  listTemporary?(): Promise<TemporaryFile[]>;
  deleteTemporary?(path: string): Promise<void>;
  close?(): Promise<void>;
}

/** An object being written (`Backend.createTemp`): `write`s are awaited one at a time, then one `commit` or `abort`. */
export interface TempWriter {
  /** Append the parts, in order (one `writev` on files). */
  write(parts: Uint8Array[]): Promise<void>;
  /** Make the object readable as `name`, durably; nothing of it is visible before. */
  commit(name: string): Promise<void>;
  /** Drop what was written (after a failure); never throws. */
  abort(): Promise<void>;
}

export interface TemporaryFile {
  /** Relative to the repository root, e.g. `data/3f/.tmp-3f…-a1b2c3`. */
  path: string;
  size: number;
  mtime: Date;
}

export class BackendError extends Error {
  constructor(
    readonly code: 'E_REPO_NOT_FOUND' | 'E_REPO_BACKEND' | 'E_REPO_URL',
    message: string,
  ) {
    super(message);
    this.name = 'BackendError';
  }
}
