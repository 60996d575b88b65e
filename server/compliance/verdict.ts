/**
 * A device's compliance verdict, from what is known of its hardware class: pure, no database (the
 * report groups devices in SQL and asks this once per class × version × staleness).
 *
 * Precedence, first that applies:
 * - vulnerable: it runs a version marked vulnerable for its class;
 * - unknown: it reported no version or no class, or its version is no release of its class (no
 *   image of that class and version was ever uploaded, deleted ones included);
 * - outdated: its release orders below the class's minimum (by package sequence number; a release
 *   without one cannot be shown to be at or above the minimum, so it is below), or is not in the
 *   class's approved set;
 * - stale: it has not been seen for the class's staleDays;
 * - compliant.
 */

export const VERDICTS = ['vulnerable', 'unknown', 'outdated', 'stale', 'compliant'] as const;
export type Verdict = (typeof VERDICTS)[number];
/** The verdicts that are not compliant, in precedence order. */
export const NONCOMPLIANT: readonly Exclude<Verdict, 'compliant'>[] = ['vulnerable', 'unknown', 'outdated', 'stale'];

export const DEFAULT_STALE_DAYS = 30;

/** A release of a class: the highest sequence number of its images (null: none has one), and whether one is in state 'approved'. */
export interface Release { sequence: number | null; approved: boolean }

/** What the verdicts of one class's devices depend on. */
export interface ClassFacts {
  /** By version: every image of the class ever uploaded, deleted ones included. */
  releases: ReadonlyMap<string, Release>;
  /** The policy's minimum release, if any. */
  minimumVersion: string | null;
  /** The policy's approved versions; null: the releases in state 'approved'. */
  approvedVersions: readonly string[] | null;
  /** Versions marked vulnerable. */
  vulnerable: ReadonlySet<string>;
}

export interface DeviceFacts {
  version: string | null;
  /** Not seen for the class's staleDays. */
  stale: boolean;
}

/** The verdict of a device of a class with `facts` (undefined: the device has no class). */
export function verdictOf(device: DeviceFacts, facts: ClassFacts | undefined): Verdict {
  const { version } = device;
  if (facts === undefined || version === null) return 'unknown';
  if (facts.vulnerable.has(version)) return 'vulnerable';
  const release = facts.releases.get(version);
  if (release === undefined) return 'unknown';
  if (facts.minimumVersion !== null && !atLeast(release, facts.releases.get(facts.minimumVersion))) return 'outdated';
  const approved = facts.approvedVersions === null ? release.approved : facts.approvedVersions.includes(version);
  if (!approved) return 'outdated';
  return device.stale ? 'stale' : 'compliant';
}

/** Whether `release` orders at or above `minimum`; false when either has no sequence number to order by. */
function atLeast(release: Release, minimum: Release | undefined): boolean {
  if (release.sequence === null || minimum?.sequence === null || minimum === undefined) return false;
  return release.sequence >= minimum.sequence;
}
