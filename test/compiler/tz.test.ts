/**
 * The time-zone checks answer from Intl's list of zones (cheap at start-up) instead of building a DateTimeFormat per
 * zone: for every name, in any case, they must answer exactly what a DateTimeFormat answers (validity, and the
 * spelling of `resolvedOptions().timeZone`). Cases: every zone Intl lists (ECMA-402 Intl.supportedValuesOf), their
 * lower- and upper-case spellings, the UTC aliases ECMA-402 canonicalizes to "UTC", links Intl does not list, and
 * names that are not zones.
 */
import { describe, expect, it } from 'vitest';
import { canonicalTimeZone, isValidTimeZone } from '../../compiler/schedule/tz.ts';

function intl(tz: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

const listed = Intl.supportedValuesOf('timeZone');
const names = [
  ...listed,
  ...listed.map((z) => z.toLowerCase()),
  ...listed.map((z) => z.toUpperCase()),
  ...['UTC', 'utc', 'Utc', 'Etc/UTC', 'etc/utc', 'GMT', 'Etc/GMT', 'UCT', 'Zulu', 'Universal', 'Etc/GMT0', 'Greenwich'],
  ...['US/Eastern', 'us/pacific', 'Asia/Kolkata', 'Asia/Calcutta', 'Europe/Kyiv', 'Europe/Kiev', 'America/Buenos_Aires'],
  ...['Mars/Olympus', 'Europe/Pariss', 'Europe', '+02:00', 'UTC+2', 'Etc/GMT+99', ' Europe/Paris'],
];

describe('time zones from the list answer what Intl.DateTimeFormat answers', () => {
  it(`${names.length} names: validity and canonical spelling`, () => {
    const wrong: string[] = [];
    for (const z of names) {
      const want = intl(z);
      if (isValidTimeZone(z) !== (want !== undefined)) wrong.push(`${z}: valid ${isValidTimeZone(z)}, Intl ${want !== undefined}`);
      else if (want !== undefined && canonicalTimeZone(z) !== want) wrong.push(`${z}: ${canonicalTimeZone(z)}, Intl ${want}`);
    }
    expect(wrong).toEqual([]);
    expect(listed.length).toBeGreaterThan(300);
  });

  it('refuses what is not a zone name at all', () => {
    for (const z of ['', 'x'.repeat(65), 42 as unknown as string]) expect(isValidTimeZone(z)).toBe(false);
  });
});
