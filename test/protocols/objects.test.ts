import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DeviceObject,
  FirmwareState,
  FirmwareUpdate,
  Security,
  Server,
  UpdateResult,
  updateResultName,
} from '../../protocols/objects.ts';

// LwM2M 1.1 Core Appendix E.6, Object 5 "Firmware Update" resource definitions.
test('App. E.6: Firmware Update (5) resource IDs', () => {
  assert.is(FirmwareUpdate.OBJECT_ID, 5);
  assert.is(FirmwareUpdate.PACKAGE, 0);
  assert.is(FirmwareUpdate.PACKAGE_URI, 1);
  assert.is(FirmwareUpdate.UPDATE, 2);
  assert.is(FirmwareUpdate.STATE, 3);
  assert.is(FirmwareUpdate.UPDATE_RESULT, 5);
  assert.is(FirmwareUpdate.PKG_NAME, 6);
  assert.is(FirmwareUpdate.PKG_VERSION, 7);
  assert.is(FirmwareUpdate.PROTOCOL_SUPPORT, 8);
  assert.is(FirmwareUpdate.DELIVERY_METHOD, 9);
  assert.is(FirmwareUpdate.CANCEL, 10);
  assert.is(FirmwareUpdate.SEVERITY, 11);
  assert.is(FirmwareUpdate.LAST_STATE_CHANGE_TIME, 12);
  assert.is(FirmwareUpdate.MAXIMUM_DEFER_PERIOD, 13);
});

test('App. E.6: State 0 Idle, 1 Downloading, 2 Downloaded, 3 Updating', () => {
  assert.equal(FirmwareState, { IDLE: 0, DOWNLOADING: 1, DOWNLOADED: 2, UPDATING: 3 });
});

// Update Result 0..9 as in App. E.6; 10 (cancelled) and 11 (deferred) from later Object 5 versions.
test('App. E.6: Update Result codes and their names', () => {
  const table: Array<[number, number, string]> = [
    [UpdateResult.INITIAL, 0, 'initial'],
    [UpdateResult.SUCCESS, 1, 'success'],
    [UpdateResult.NOT_ENOUGH_FLASH, 2, 'not enough flash'],
    [UpdateResult.OUT_OF_RAM, 3, 'out of RAM'],
    [UpdateResult.CONNECTION_LOST, 4, 'connection lost'],
    [UpdateResult.INTEGRITY_CHECK_FAILURE, 5, 'integrity check failure'],
    [UpdateResult.UNSUPPORTED_PACKAGE_TYPE, 6, 'unsupported package type'],
    [UpdateResult.INVALID_URI, 7, 'invalid URI'],
    [UpdateResult.UPDATE_FAILED, 8, 'update failed'],
    [UpdateResult.UNSUPPORTED_PROTOCOL, 9, 'unsupported protocol'],
    [UpdateResult.CANCELLED, 10, 'cancelled'],
    [UpdateResult.DEFERRED, 11, 'deferred'],
  ];
  for (const [constant, code, name] of table) {
    assert.is(constant, code);
    assert.is(updateResultName(code), name);
  }
  assert.is(Object.keys(UpdateResult).length, table.length);
});

test('updateResultName: anything else is unknown (N)', () => {
  assert.is(updateResultName(12), 'unknown (12)');
  assert.is(updateResultName(-1), 'unknown (-1)');
  assert.is(updateResultName(1.5), 'unknown (1.5)');
  assert.is(updateResultName(Number.NaN), 'unknown (NaN)');
});

test('App. E.4 Device (3), E.2 Server (1), E.1 Security (0)', () => {
  assert.equal(DeviceObject, {
    OBJECT_ID: 3,
    MANUFACTURER: 0,
    MODEL_NUMBER: 1,
    SERIAL_NUMBER: 2,
    FIRMWARE_VERSION: 3,
    REBOOT: 4,
    BATTERY_LEVEL: 9,
    MEMORY_FREE: 10,
    HARDWARE_VERSION: 18,
    SOFTWARE_VERSION: 19,
  });
  assert.equal(Server, { OBJECT_ID: 1, SHORT_SERVER_ID: 0, LIFETIME: 1, BINDING: 7 });
  assert.equal(Security, { OBJECT_ID: 0 });
});

test.run();
