import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  formatObjlnk,
  isPathWithin,
  parseObjlnk,
  pathFromIds,
  pathIds,
  timeFromSeconds,
  typedValue,
  valueForType,
} from '../../protocols/lwm2m-node.ts';
import { defaultTypeOf, resourceModel } from '../../protocols/object-model.ts';
import { throwsDecodeError } from './_helpers.ts';

const P = { objectId: 3, instanceId: 0, resourceId: 13 };

test('paths: IDs, within, from IDs', () => {
  assert.equal(pathIds({ objectId: 5, instanceId: 0, resourceId: 3 }), [5, 0, 3]);
  assert.equal(pathIds(undefined), []);
  assert.ok(isPathWithin({ objectId: 3, instanceId: 0, resourceId: 7, resourceInstanceId: 1 }, { objectId: 3, instanceId: 0 }));
  assert.ok(isPathWithin({ objectId: 3, instanceId: 0 }, { objectId: 3, instanceId: 0 }));
  assert.ok(isPathWithin({ objectId: 3 }, undefined));
  assert.not.ok(isPathWithin({ objectId: 3, instanceId: 1, resourceId: 0 }, { objectId: 3, instanceId: 0 }));
  assert.not.ok(isPathWithin({ objectId: 3 }, { objectId: 3, instanceId: 0 }));
  assert.equal(pathFromIds([3, 0, 7, 1], 'x'), { objectId: 3, instanceId: 0, resourceId: 7, resourceInstanceId: 1 });
  throwsDecodeError(() => pathFromIds([], 'x.path'), 'x.path');
  throwsDecodeError(() => pathFromIds([1, 2, 3, 4, 5], 'x.path'), 'x.path');
  throwsDecodeError(() => pathFromIds([65535], 'x.path'), 'x.path');
  throwsDecodeError(() => pathFromIds([-1], 'x.path'), 'x.path');
});

// LwM2M 1.1 Core §7.4.4 (SenML "vlo"): an object link is written "objectId:instanceId".
test('objlnk: "66:0" and the null link "65535:65535"', () => {
  assert.equal(parseObjlnk('66:0', 'x'), { objlnk: [66, 0] });
  assert.equal(parseObjlnk('65535:65535', 'x'), { objlnk: [65535, 65535] });
  assert.is(formatObjlnk({ objlnk: [3, 0] }), '3:0');
  for (const bad of ['', '3', '3:', ':0', '3:0:1', '03:0', '65536:0', '-1:0', ' 3:0', '3 :0']) throwsDecodeError(() => parseObjlnk(bad, 'x.objlnk'), 'x.objlnk');
});

test('typedValue: checks and converts self-described values by resource type', () => {
  assert.equal(typedValue(1367491215, 'time', P, 'f.type'), new Date(1367491215000));
  assert.equal(typedValue('66:1', 'objlnk', P, 'f.type'), { objlnk: [66, 1] });
  assert.is(typedValue(5n, 'integer', P, 'f.type'), 5);
  assert.is(typedValue(2n ** 63n - 1n, 'integer', P, 'f.type'), 2n ** 63n - 1n);
  assert.is(typedValue(2n ** 64n - 1n, 'unsignedInteger', P, 'f.type'), 2n ** 64n - 1n);
  assert.is(typedValue(3, 'float', P, 'f.type'), 3);
  assert.is(typedValue(2n ** 60n, 'float', P, 'f.type'), 2 ** 60);
  assert.is(typedValue('x', undefined, P, 'f.type'), 'x');
  throwsDecodeError(() => typedValue('1', 'integer', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue(1.5, 'integer', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue(2n ** 63n, 'integer', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue(-1, 'unsignedInteger', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue(2n ** 64n, 'unsignedInteger', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue(1, 'boolean', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue('AQ', 'opaque', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue(1e300, 'time', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue('3', 'objlnk', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue(true, 'string', P, 'f.type'), 'f.type');
  throwsDecodeError(() => typedValue(Number.NaN, undefined, P, 'f.type'), 'f.type');
});

test('valueForType: our own wrong values are RangeErrors naming the path', () => {
  assert.equal(valueForType(0, 'time', P), new Date(0));
  assert.equal(valueForType('3:0', 'objlnk', P), { objlnk: [3, 0] });
  assert.throws(() => valueForType('100', 'integer', P), (e: unknown) => e instanceof RangeError && /\/3\/0\/13/.test(e.message));
  assert.throws(() => valueForType(new Date(Number.NaN), 'time', P), RangeError);
  assert.throws(() => valueForType({ objlnk: [1, 70000] } as never, undefined, P), RangeError);
  assert.throws(() => valueForType(null as never, undefined, P), RangeError);
});

test('timeFromSeconds: Date range only', () => {
  assert.equal(timeFromSeconds(0, 'x'), new Date(0));
  assert.equal(timeFromSeconds(-1n, 'x'), new Date(-1000));
  throwsDecodeError(() => timeFromSeconds(2n ** 62n, 'x.time'), 'x.time');
});

// OMA registry, object definitions 0, 1, 3 and 5 (version 1.1).
test('object model: types of objects 0, 1, 3 and 5', () => {
  const t = (o: number, r: number, ri?: number) =>
    defaultTypeOf({ objectId: o, instanceId: 0, resourceId: r, ...(ri === undefined ? {} : { resourceInstanceId: ri }) });
  assert.is(t(0, 0), 'string');
  assert.is(t(0, 1), 'boolean');
  assert.is(t(0, 3), 'opaque');
  assert.is(t(1, 1), 'integer');
  assert.is(t(1, 6), 'boolean');
  assert.is(t(1, 12), 'time');
  assert.is(t(1, 13), 'unsignedInteger');
  assert.is(t(3, 0), 'string');
  assert.is(t(3, 7, 1), 'integer');
  assert.is(t(3, 13), 'time');
  assert.is(t(3, 22, 0), 'objlnk');
  assert.is(t(5, 0), 'opaque');
  assert.is(t(5, 3), 'integer');
  assert.is(t(5, 13), 'unsignedInteger');
  assert.is(t(5, 2), undefined); // Update is executable
  assert.is(t(3, 4), undefined); // Reboot
  assert.is(t(5, 4), undefined); // not defined
  assert.is(t(4, 0), undefined); // object 4 is not modelled
  assert.is(defaultTypeOf({ objectId: 3, instanceId: 0 }), undefined);
  assert.equal(resourceModel(3, 6), { name: 'Available Power Sources', type: 'integer', multiple: true });
  assert.is(resourceModel(5, 1)?.name, 'Package URI');
  assert.equal(resourceModel(19, 0), { name: 'Data', type: 'opaque', multiple: true });
  assert.is(t(19, 3), 'string');
});

test.run();
