/**
 * The compliance.vulnerable alert: a version marked vulnerable that devices still run past its
 * deadline raises one (critical), with the device count and the advisories, then again at most
 * once a day while devices run it (store/vulnerabilities.ts claimOverdue). Run periodically.
 */
import type { AlertSink } from '../alerts/kinds.ts';
import type { Alert } from '../store/alerts.ts';
import type { Db } from '../store/db.ts';
import { claimOverdue } from '../store/vulnerabilities.ts';

/** Raises the alerts due; returns how many. */
export async function alertOverdueVulnerabilities(db: Db, alerts: AlertSink): Promise<number> {
  const stored: Alert[] = await db.transaction(async (tx) => {
    const out: Alert[] = [];
    for (const v of await claimOverdue(tx)) {
      const deadline = v.deadline?.toISOString() ?? null;
      out.push(await alerts.storeIn(tx, {
        kind: 'compliance.vulnerable',
        message: `${v.devices} device(s) of class ${v.hardwareClass} still run ${v.version}, vulnerable (${v.advisories.join(', ')}), past its deadline ${deadline}`,
        data: {
          hardwareClass: v.hardwareClass, version: v.version, devices: v.devices, advisories: v.advisories,
          advisorySeverity: v.severity, deadline, vulnerabilityId: v.id,
        },
      }));
    }
    return out;
  });
  for (const a of stored) alerts.published(a);
  return stored.length;
}
