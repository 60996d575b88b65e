import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePath } from '../../protocols/path.ts';
import { valueFromJson, valueToJson } from '../../protocols/value-json.ts';
import { throwsDecodeError } from './_helpers.ts';

const P = parsePath('/3/0/13');

test('valueToJson: JSON-safe forms of every LwM2M value', () => {
  assert.is(valueToJson('Open Mobile Alliance'), 'Open Mobile Alliance');
  assert.is(valueToJson(100), 100);
  assert.is(valueToJson(2n ** 64n - 1n), '18446744073709551615');
  assert.is(valueToJson(true), true);
  assert.is(valueToJson(Buffer.from([1, 2, 3, 4, 5])), 'AQIDBAU=');
  assert.is(valueToJson(new Date(1367491215000)), '2013-05-02T10:40:15.000Z');
  assert.is(valueToJson({ objlnk: [66, 1] }), '66:1');
});

test('valueFromJson: by resource type, and back', () => {
  assert.equal(valueFromJson('2013-05-02T10:40:15Z', 'time', P), new Date(1367491215000));
  assert.equal(valueFromJson(1367491215, 'time', P), new Date(1367491215000));
  assert.is(valueFromJson('18446744073709551615', 'unsignedInteger', P), 2n ** 64n - 1n);
  assert.is(valueFromJson('42', 'integer', P), 42);
  assert.is(valueFromJson(42, 'integer', P), 42);
  assert.equal(valueFromJson('AQIDBAU', 'opaque', P), Buffer.from([1, 2, 3, 4, 5]));
  assert.equal(valueFromJson('66:1', 'objlnk', P), { objlnk: [66, 1] });
  assert.is(valueFromJson(0.5, 'float', P), 0.5);
  assert.is(valueFromJson('coap://h/fw/1', 'string', P), 'coap://h/fw/1');
  assert.is(valueFromJson('x', undefined, P), 'x');
  for (const v of ['Open Mobile Alliance', 100, true, new Date(0), { objlnk: [3, 0] as [number, number] }]) {
    const type = typeof v === 'string' ? 'string' : typeof v === 'number' ? 'integer' : typeof v === 'boolean' ? 'boolean' : v instanceof Date ? 'time' : 'objlnk';
    assert.equal(valueFromJson(valueToJson(v), type, P), v);
  }
});

test('Time outside the years 0000–9999 reads back as valueToJson writes it (found by fuzzing: "+010000-01-01T00:00:00.000Z" was refused)', () => {
  for (const ms of [253402300800000, 8.64e15, -62198755200000, -8.64e15]) {
    const json = valueToJson(new Date(ms));
    assert.equal(valueFromJson(json, 'time', P), new Date(ms), String(json));
  }
  assert.is(valueToJson(new Date(253402300800000)), '+010000-01-01T00:00:00.000Z');
  assert.equal(valueFromJson('+010000-01-01T00:00:00.000Z', 'time', P), new Date(253402300800000));
  throwsDecodeError(() => valueFromJson('-000000-01-01T00:00:00.000Z', 'time', P), 'json.value'); // ECMA-262: minus zero is not a year
  throwsDecodeError(() => valueFromJson('+10000-01-01T00:00:00.000Z', 'time', P), 'json.value');
});

test('valueFromJson: what does not fit is json.value', () => {
  for (const [json, type] of [
    [null, undefined], [{}, undefined], [[1], undefined], [Number.NaN, 'float'], ['1', 'float'], [1.5, 'integer'],
    ['-1', 'unsignedInteger'], ['99999999999999999999', 'integer'], ['today', 'time'], ['1367491215', 'time'],
    ['AQ=', 'opaque'], ['3', 'objlnk'], [1, 'boolean'], [1, 'string'],
  ] as const) {
    throwsDecodeError(() => valueFromJson(json, type, P), 'json.value');
  }
});

test.run();
