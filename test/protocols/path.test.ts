import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_ID, formatPath, parsePath, pathFromSegments, pathSegments } from '../../protocols/path.ts';
import { throwsDecodeError } from './_helpers.ts';

// LwM2M 1.1 Transport, DM & Service Enablement Interface: /{Object ID}/{Object Instance ID}/
// {Resource ID}/{Resource Instance ID}. Paths below are the ones the spec examples use:
// Read /3/0 and /3/0/0 (Device, Manufacturer), Write /5/0/1 (Package URI), /5/0/0 (Package),
// the ACL resource instance /2/0/2/127 of the TLV examples, /3/0/6/0 (Available Power Sources[0]).
test('LwM2M Transport DM interface: the four path depths', () => {
  assert.equal(parsePath('/5'), { objectId: 5 });
  assert.equal(parsePath('/3/0'), { objectId: 3, instanceId: 0 });
  assert.equal(parsePath('/5/0/1'), { objectId: 5, instanceId: 0, resourceId: 1 });
  assert.equal(parsePath('/2/0/2/127'), { objectId: 2, instanceId: 0, resourceId: 2, resourceInstanceId: 127 });
  assert.equal(parsePath('/3/0/6/0'), { objectId: 3, instanceId: 0, resourceId: 6, resourceInstanceId: 0 });
});

test('IDs range over 0 .. 65534; 65535 (MAX_ID) is reserved', () => {
  assert.is(MAX_ID, 65535);
  assert.equal(parsePath('/65534/65534/65534/65534'), {
    objectId: 65534,
    instanceId: 65534,
    resourceId: 65534,
    resourceInstanceId: 65534,
  });
  assert.equal(parsePath('/0/0/0/0'), { objectId: 0, instanceId: 0, resourceId: 0, resourceInstanceId: 0 });
  throwsDecodeError(() => parsePath('/65535'), 'path.invalid');
  throwsDecodeError(() => parsePath('/3/65535'), 'path.invalid');
  throwsDecodeError(() => parsePath('/65536'), 'path.invalid');
  throwsDecodeError(() => parsePath('/99999'), 'path.invalid');
});

test('malformed paths → DecodeError path.invalid', () => {
  const bad = [
    '', '/', '5', '5/0', '/5/', '/5/0/', '//5', '/5//0', '/05', '/00', '/+5', '/-1', '/a', '/5a', '/5 ', ' /5',
    '/1e3', '/0x5', '/5.0', '/５', '/5/0/1/2/3', '/123456', '/5\u0000', '/5?x', '/%35',
  ];
  for (const text of bad) throwsDecodeError(() => parsePath(text), 'path.invalid');
  throwsDecodeError(() => parsePath('/1'.repeat(10_000)), 'path.invalid');
});

test('pathFromSegments: CoAP Uri-Path options', () => {
  assert.equal(pathFromSegments(['3', '0', '0']), { objectId: 3, instanceId: 0, resourceId: 0 });
  assert.equal(pathFromSegments(['5']), { objectId: 5 });
  throwsDecodeError(() => pathFromSegments([]), 'path.invalid');
  throwsDecodeError(() => pathFromSegments(['3', '']), 'path.invalid');
  throwsDecodeError(() => pathFromSegments(['3', '0', '0', '0', '0']), 'path.invalid');
  throwsDecodeError(() => pathFromSegments(['rd']), 'path.invalid');
  throwsDecodeError(() => pathFromSegments(['3', '01']), 'path.invalid');
});

test('formatPath / pathSegments round trip', () => {
  for (const text of ['/5', '/3/0', '/5/0/1', '/2/0/2/127', '/65534/0']) {
    const path = parsePath(text);
    assert.is(formatPath(path), text);
    assert.equal(pathSegments(path), text.slice(1).split('/'));
    assert.equal(pathFromSegments(pathSegments(path)), path);
  }
});

test('formatPath refuses gaps and IDs out of range (RangeError)', () => {
  assert.throws(() => formatPath({ objectId: 3, resourceId: 0 }), RangeError);
  assert.throws(() => formatPath({ objectId: 3, instanceId: 0, resourceInstanceId: 1 }), RangeError);
  assert.throws(() => formatPath({ objectId: 65535 }), RangeError);
  assert.throws(() => formatPath({ objectId: -1 }), RangeError);
  assert.throws(() => formatPath({ objectId: 1.5 }), RangeError);
  assert.throws(() => pathSegments({ objectId: 3, instanceId: Number.NaN }), RangeError);
});

test.run();
