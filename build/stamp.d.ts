export declare const BUILD_INFO: string;
export interface BuildInfo {
  version: string;
  /** The entry point, relative to the build folder (`lib/coffer.mjs`). */
  entry: string;
  /** Checkout-relative path → `size:mtime` (`d:mtime` for a folder) at build time. */
  inputs: Record<string, string>;
  /** Every file of the build folder, relative to it, sorted. */
  files: string[];
}
export declare function stampOf(root: string, rel: string): string | undefined;
export declare function readBuildInfo(outDir: string): BuildInfo | undefined;
export declare function isFresh(outDir: string, checkout: string): boolean;
export declare function freshBuildInfo(outDir: string, checkout: string): BuildInfo | undefined;
