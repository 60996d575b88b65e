/**
 * What the update engine reads and writes of a device, pure: the Object 5 resources (and /3/0/3
 * Firmware Version), which of them are read to start an update and in which format, which the
 * device may lack, how the values read become the event decide.ts takes, and the integer values
 * decoded from whichever format the device answered in.
 */
import { ContentFormat } from '../../protocols/content-format.ts';
import { decodeContent } from '../../protocols/content.ts';
import { DecodeError } from '../../protocols/errors.ts';
import { DeviceObject, FirmwareUpdate } from '../../protocols/objects.ts';
import { parsePath } from '../../protocols/path.ts';
import type { Command, UpdateEvent } from './decide.ts';
import type { DeviceContent, DeviceErrorKind } from './device-port.ts';

const o5 = (resource: number): string => `/${FirmwareUpdate.OBJECT_ID}/0/${resource}`;

/** The paths the engine reads, writes, executes and observes. */
export const Resource = {
  PACKAGE: o5(FirmwareUpdate.PACKAGE),
  PACKAGE_URI: o5(FirmwareUpdate.PACKAGE_URI),
  UPDATE: o5(FirmwareUpdate.UPDATE),
  STATE: o5(FirmwareUpdate.STATE),
  UPDATE_RESULT: o5(FirmwareUpdate.UPDATE_RESULT),
  PROTOCOL_SUPPORT: o5(FirmwareUpdate.PROTOCOL_SUPPORT),
  DELIVERY_METHOD: o5(FirmwareUpdate.DELIVERY_METHOD),
  CANCEL: o5(FirmwareUpdate.CANCEL),
  SEVERITY: o5(FirmwareUpdate.SEVERITY),
  MAXIMUM_DEFER_PERIOD: o5(FirmwareUpdate.MAXIMUM_DEFER_PERIOD),
  FIRMWARE_VERSION: `/${DeviceObject.OBJECT_ID}/0/${DeviceObject.FIRMWARE_VERSION}`,
} as const;

/** The device registered Object 5 at version 1.1 or later (Severity, Cancel, Maximum Defer Period). */
export function hasObject5v11(device: { objects: readonly { objectId: number; version?: string }[] } | null): boolean {
  const object5 = device?.objects.find((o) => o.objectId === FirmwareUpdate.OBJECT_ID);
  const [major, minor] = (object5?.version ?? '1.0').split('.').map(Number);
  return (major ?? 1) > 1 || ((major ?? 1) === 1 && (minor ?? 0) >= 1);
}

/** One Read of an integer resource: the format asked for, and whether it has many instances (all their values). */
export interface IntegerRead {
  path: string;
  accept: number;
  multiple: boolean;
}

export type DeliveryValue = 'deliveryMethod' | 'protocolSupport' | 'deviceState' | 'maxDeferPeriod';

/**
 * What is read before the package goes out ('readDeliveryMethod'), in this order, each optional (a
 * device lacking one answers an error, and its value is null): /5/0/9 Delivery Method and /5/0/8
 * Protocol Support (both optional in Object 5 1.0: a device without them pulls over CoAP); /5/0/3
 * State (a download left over from an earlier try is reset first); and from an Object 5 1.1 device
 * /5/0/13 Maximum Defer Period (a campaign waits that out before asking again).
 */
export function deliveryReads(object5v11: boolean): Array<[DeliveryValue, IntegerRead]> {
  return [
    ['deliveryMethod', { path: Resource.DELIVERY_METHOD, accept: ContentFormat.TEXT, multiple: false }],
    ['protocolSupport', { path: Resource.PROTOCOL_SUPPORT, accept: ContentFormat.TLV, multiple: true }],
    ['deviceState', { path: Resource.STATE, accept: ContentFormat.TEXT, multiple: false }],
    ...(object5v11 ? [['maxDeferPeriod', { path: Resource.MAXIMUM_DEFER_PERIOD, accept: ContentFormat.TEXT, multiple: false }] as [DeliveryValue, IntegerRead]] : []),
  ];
}

/** The values deliveryReads read (null: the device lacks the resource), as one event; a negative Maximum Defer Period is none. */
export function deliveryMethodEvent(read: Partial<Record<DeliveryValue, readonly number[] | null>>): Extract<UpdateEvent, { type: 'deliveryMethod' }> {
  const one = (v: readonly number[] | null | undefined): number | null => v?.[0] ?? null;
  const maxDeferPeriod = one(read.maxDeferPeriod);
  return {
    type: 'deliveryMethod', value: one(read.deliveryMethod), protocols: read.protocolSupport ?? null, deviceState: one(read.deviceState),
    maxDeferPeriod: maxDeferPeriod !== null && maxDeferPeriod >= 0 ? maxDeferPeriod : null,
  };
}

/**
 * What to read once a command failed, before the failure is told (its 'commandFailed' carries the
 * value): a device that refused the pushed package may say why in Update Result (/5/0/5, e.g. 2, 5).
 * Undefined: nothing. The read is optional, and failing it changes nothing.
 */
export function readAfterFailure(command: Command['type'], error: DeviceErrorKind | undefined): IntegerRead | undefined {
  return command === 'pushPackage' && error === 'refused' ? { path: Resource.UPDATE_RESULT, accept: ContentFormat.TEXT, multiple: false } : undefined;
}

/** The value(s) of one IntegerRead's answer; a single one that holds no integer is a DecodeError. */
export function integersOf(r: IntegerRead, content: DeviceContent): number[] {
  return r.multiple ? integerValues(r.path, content) : [integerValue(r.path, content)];
}

/** A multiple-instance integer resource (e.g. /5/0/8), in whichever format the device answered. */
export function integerValues(path: string, content: DeviceContent): number[] {
  const nodes = decodeContent(content.contentFormat ?? ContentFormat.TEXT, content.payload, parsePath(path));
  return nodes.flatMap((n) => (typeof n.value === 'number' || typeof n.value === 'bigint' ? [Number(n.value)] : []));
}

/** A single integer resource, in whichever format the device answered (text, TLV, SenML, …). */
export function integerValue(path: string, content: DeviceContent): number {
  const [value] = integerValues(path, content);
  if (value === undefined) throw new DecodeError('content.empty', `no integer for ${path} in the answer`);
  return value;
}
