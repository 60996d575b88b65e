/** The ferry_devices_noncompliant gauge: non-compliant devices by class and verdict, judged at scrape time. */
import { MAX_GROUPS, type Metrics, type Sample } from '../metrics.ts';
import type { Queryable } from '../store/db.ts';
import { noncompliantCounts } from './report.ts';

export function registerComplianceMetric(metrics: Metrics, db: Queryable): void {
  metrics.registerCollector('ferry_devices_noncompliant',
    'devices that are not compliant, by hardware class and verdict (vulnerable, unknown, outdated, stale; see GET /api/v1/compliance); '
      + `at most ${MAX_GROUPS} samples, the rest summed per verdict under hardware_class="other"`,
    ['hardware_class', 'verdict'], async () => {
      const counts = (await noncompliantCounts(db)).sort((a, b) => b.devices - a.devices);
      // Room for the four "other" samples when there are too many.
      const kept = counts.length <= MAX_GROUPS ? counts.length : MAX_GROUPS - 4;
      const samples: Sample[] = counts.slice(0, kept).map((c) => ({ labels: { hardware_class: c.hardwareClass ?? 'unknown', verdict: c.verdict }, value: c.devices }));
      const other = new Map<string, number>();
      for (const c of counts.slice(kept)) other.set(c.verdict, (other.get(c.verdict) ?? 0) + c.devices);
      for (const [verdict, value] of other) samples.push({ labels: { hardware_class: 'other', verdict }, value });
      return samples;
    });
}
