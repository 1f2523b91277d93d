/** Small pieces every check shares: versions, quoting, plurals, visiting containers. */
import type { Container, PodSpec, Version } from './types.ts';

export const LATEST: Version = Object.freeze({ minor: Number.POSITIVE_INFINITY, latest: true });

export function v1(minor: number): Version {
  return { minor };
}

export function versionString(v: Version): string {
  return v.latest ? 'latest' : `v1.${v.minor}`;
}

/** `"a", "b"` — Go's joinQuote. */
export function joinQuote(items: string[]): string {
  return items.length === 0 ? '' : `"${items.join('", "')}"`;
}

export function pluralize(singular: string, plural: string, count: number): string {
  return count === 1 ? singular : plural;
}

/** Sorted unique values, as apimachinery's `sets.String.List()` returns them (byte order). */
export function sortedSet(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** Init containers, then containers, then ephemeral containers — the order names appear in messages. */
export function visitContainers(spec: PodSpec, visit: (c: Container) => void): void {
  for (const c of spec.initContainers ?? []) visit(c);
  for (const c of spec.containers ?? []) visit(c);
  for (const c of spec.ephemeralContainers ?? []) visit(c);
}

/** `hostUsers: false` pods run in a user namespace: root inside is not root on the node (policy 1.35+). */
export function inUserNamespace(spec: PodSpec): boolean {
  return spec.hostUsers === false;
}

export function isWindows(spec: PodSpec): boolean {
  return spec.os?.name === 'windows';
}

/** `containers "a", "b"` */
export function containersPhrase(names: string[]): string {
  return `${pluralize('container', 'containers', names.length)} ${joinQuote(names)}`;
}
