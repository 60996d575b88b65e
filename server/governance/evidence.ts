/**
 * Testbed evidence for a release, judged (pure: the facts are gathered by store/testbed.ts). An
 * image has enough when the testbed campaigns that completed with it cover at least the policy's
 * number of testbed devices of its hardware class, enough of them succeeded, and the soak has run:
 * `soakSeconds` since the last of those updates finished, the succeeded devices staying healthy all
 * along (still registered and heard from since the soak started, still on the image's version, no
 * failed update since).
 */
import type { SecurityMode } from '../store/rows.ts';

/** A hardware class's testbed policy (testbed_policies; a class with no row has DEFAULT_POLICY's values). */
export interface TestbedPolicy {
  hardwareClass: string;
  minDevices: number;
  soakSeconds: number;
  /** succeeded / attempted, 0 … 1. */
  minSuccessRate: number;
  /** Count only devices that registered over DTLS with a pre-shared key. */
  requireCredentials: boolean;
}

export const DEFAULT_POLICY: Omit<TestbedPolicy, 'hardwareClass'> = { minDevices: 1, soakSeconds: 3600, minSuccessRate: 1, requireCredentials: false };

/** One device's last outcome in the image's completed testbed campaigns, and how it is now. */
export interface TestedDevice {
  endpoint: string;
  outcome: 'succeeded' | 'failed';
  resultCode: number | null;
  hardwareClass: string | null;
  securityMode: SecurityMode;
  status: string;
  lastSeen: Date | null;
  firmwareVersion: string | null;
  /** When its latest failed update finished (any image), if it has one. */
  lastFailureAt: Date | null;
}

export interface EvidenceFacts {
  image: { id: number; version: string; hardwareClass: string };
  policy: TestbedPolicy;
  /** Completed testbed campaigns of this image. */
  campaignIds: number[];
  devices: TestedDevice[];
  /** When the last update of those campaigns finished (null: none did). */
  lastFinishedAt: Date | null;
  now: Date;
}

export interface Evidence {
  firmwareId: number;
  version: string;
  hardwareClass: string;
  policy: TestbedPolicy;
  campaignIds: number[];
  devices: { attempted: number; succeeded: number; failed: number; notCounted: Array<{ endpoint: string; why: string }> };
  /** Counts by the last attempt's Update Result (Object 5 res. 5). */
  byResult: Record<string, number>;
  /** succeeded / attempted; null when none was attempted. */
  successRate: number | null;
  soak: { startedAt: Date | null; endsAt: Date | null; done: boolean };
  unhealthy: Array<{ endpoint: string; why: string[] }>;
  sufficient: boolean;
  missing: string[];
}

/** Why a device does not count for the policy, or undefined when it does. */
function notCounted(d: TestedDevice, f: EvidenceFacts): string | undefined {
  if (d.hardwareClass !== f.image.hardwareClass) return `hardware class ${d.hardwareClass ?? 'unknown'}, not ${f.image.hardwareClass}`;
  if (f.policy.requireCredentials && d.securityMode !== 'psk') return 'not on DTLS with a pre-shared key (the policy requires credentials)';
  return undefined;
}

/** Why a succeeded device is not healthy through the soak (empty: healthy). */
function unhealthyBecause(d: TestedDevice, version: string, soakStart: Date): string[] {
  const why: string[] = [];
  if (d.status !== 'registered') why.push(`${d.status}, not registered`);
  if (d.lastSeen === null || d.lastSeen < soakStart) why.push('not heard from since the soak started');
  if (d.firmwareVersion !== version) why.push(`reports version ${d.firmwareVersion ?? 'none'}, not ${version}`);
  if (d.lastFailureAt !== null && d.lastFailureAt >= soakStart) why.push(`an update failed at ${d.lastFailureAt.toISOString()}, during the soak`);
  return why;
}

export function judgeEvidence(f: EvidenceFacts): Evidence {
  const counted: TestedDevice[] = [];
  const excluded: Evidence['devices']['notCounted'] = [];
  for (const d of f.devices) {
    const why = notCounted(d, f);
    if (why === undefined) counted.push(d); else excluded.push({ endpoint: d.endpoint, why });
  }
  const succeeded = counted.filter((d) => d.outcome === 'succeeded');
  const byResult: Record<string, number> = {};
  for (const d of counted) if (d.resultCode !== null) byResult[String(d.resultCode)] = (byResult[String(d.resultCode)] ?? 0) + 1;
  const successRate = counted.length === 0 ? null : succeeded.length / counted.length;
  const startedAt = f.lastFinishedAt;
  const endsAt = startedAt && new Date(startedAt.getTime() + f.policy.soakSeconds * 1000);
  const done = endsAt !== null && f.now >= endsAt;
  const unhealthy = startedAt === null ? [] : succeeded
    .map((d) => ({ endpoint: d.endpoint, why: unhealthyBecause(d, f.image.version, startedAt) }))
    .filter((u) => u.why.length > 0);

  const p = f.policy;
  const missing: string[] = [];
  if (f.campaignIds.length === 0) missing.push('no testbed campaign with this image has completed');
  if (counted.length < p.minDevices) {
    missing.push(`${counted.length} testbed device(s) of class ${f.image.hardwareClass}${p.requireCredentials ? ' on DTLS-PSK' : ''} were updated; the policy needs ${p.minDevices}`);
  }
  if (successRate !== null && successRate < p.minSuccessRate) {
    missing.push(`success rate ${succeeded.length}/${counted.length} is below the policy's ${p.minSuccessRate}`);
  }
  if (startedAt !== null && !done) missing.push(`the soak runs until ${endsAt!.toISOString()} (${p.soakSeconds} s after the last update finished)`);
  if (unhealthy.length > 0) missing.push(`${unhealthy.length} device(s) unhealthy during the soak: ${unhealthy.slice(0, 5).map((u) => `${u.endpoint} (${u.why.join('; ')})`).join(', ')}`);

  return {
    firmwareId: f.image.id, version: f.image.version, hardwareClass: f.image.hardwareClass, policy: p, campaignIds: f.campaignIds,
    devices: { attempted: counted.length, succeeded: succeeded.length, failed: counted.length - succeeded.length, notCounted: excluded },
    byResult, successRate, soak: { startedAt, endsAt, done }, unhealthy, sufficient: missing.length === 0, missing,
  };
}
