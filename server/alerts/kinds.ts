import type { Alert } from '../store/alerts.ts';
import type { Queryable } from '../store/db.ts';

/** What an alert can be about, how bad each kind is by default, and what raising one takes. */
export const ALERT_KINDS = ['campaign.paused', 'campaign.reverted', 'update.stalled', 'update.integrity', 'device.impersonation', 'compliance.vulnerable'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** A campaign that stopped itself needs an operator; one device's failure is one device's. */
export const DEFAULT_SEVERITY: Record<AlertKind, Severity> = {
  'campaign.paused': 'critical',
  // A campaign that paused itself was reverted by itself (autoRevert): the revert campaigns run.
  'campaign.reverted': 'info',
  'update.stalled': 'warning',
  'update.integrity': 'warning',
  // Someone speaks as a device that has credentials: without them, or with another device's.
  'device.impersonation': 'critical',
  // Devices still run a version marked vulnerable, past the deadline set for replacing it.
  'compliance.vulnerable': 'critical',
};

export interface AlertInput {
  kind: AlertKind;
  severity?: Severity;
  campaignId?: number;
  deviceId?: number;
  updateId?: number;
  /** One line for a human. */
  message: string;
  /** Small structured detail (ids, codes, reasons): stored as jsonb and sent as is. */
  data: object;
}

/**
 * What the engine and the campaign driver see of the Alerts service. An alert that a state change
 * raises is stored in that change's transaction (`storeIn`), then announced once it committed
 * (`published`: logged, counted, handed to the webhook); neither waits on HTTP. `raise` does both
 * at once for an alert tied to no transaction, and never throws.
 */
export interface AlertSink {
  raise(a: AlertInput): unknown;
  storeIn(tx: Queryable, a: AlertInput): Promise<Alert>;
  published(alert: Alert): void;
}
