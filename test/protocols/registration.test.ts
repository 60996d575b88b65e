import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DecodeError } from '../../protocols/errors.ts';
import { formatRegisterQuery, parseRegisterQuery, parseUpdateQuery } from '../../protocols/registration.ts';
import { throwsDecodeError } from './_helpers.ts';

// LwM2M 1.1 Transport, Registration Interface:
//   Register  POST /rd?ep={Endpoint Client Name}&lt={Lifetime}&lwm2m={version}&b={binding}&Q&sms={MSISDN}
//   Update    POST /{location}?lt={Lifetime}&b={binding}&Q&sms={MSISDN}
// Each query parameter travels in its own Uri-Query option.

test('Transport, Register: all parameters of the 1.1 URI template', () => {
  assert.equal(parseRegisterQuery(['ep=dev1', 'lt=300', 'lwm2m=1.1', 'b=U', 'Q', 'sms=33612345678']), {
    endpoint: 'dev1',
    lifetime: 300,
    lwm2mVersion: '1.1',
    binding: 'U',
    queueMode: true,
    smsNumber: '33612345678',
  });
});

test('Core, Register: defaults lt 86400, lwm2m 1.0, b U, no queue mode', () => {
  assert.equal(parseRegisterQuery(['ep=urn:imei:490154203237518']), {
    endpoint: 'urn:imei:490154203237518',
    lifetime: 86400,
    lwm2mVersion: '1.0',
    binding: 'U',
    queueMode: false,
  });
  assert.is(parseRegisterQuery(['ep=a'], { lifetime: 60 }).lifetime, 60);
  assert.is(parseRegisterQuery(['ep=a', 'lt=90'], { lifetime: 60 }).lifetime, 90);
  assert.throws(() => parseRegisterQuery(['ep=a'], { lifetime: 0 }), RangeError);
});

test('LwM2M 1.0 binding modes U, UQ, S, SQ, US, UQS: Q inside the binding is queue mode', () => {
  const table: Array<[string, string, boolean]> = [
    ['U', 'U', false],
    ['UQ', 'U', true],
    ['S', 'S', false],
    ['SQ', 'S', true],
    ['US', 'US', false],
    ['UQS', 'US', true],
  ];
  for (const [b, binding, queueMode] of table) {
    const p = parseRegisterQuery(['ep=x', 'lwm2m=1.0', `b=${b}`]);
    assert.is(p.binding, binding, b);
    assert.is(p.queueMode, queueMode, b);
  }
});

test('LwM2M 1.1 binding: any set of U, S, N, T without repeats; Q is its own parameter', () => {
  for (const b of ['U', 'T', 'N', 'S', 'UT', 'UN', 'NU', 'UST', 'TNSU']) {
    assert.equal(parseRegisterQuery(['ep=x', 'lwm2m=1.1', `b=${b}`]), {
      endpoint: 'x',
      lifetime: 86400,
      lwm2mVersion: '1.1',
      binding: b,
      queueMode: false,
    });
  }
  assert.is(parseRegisterQuery(['ep=x', 'b=UT', 'Q']).queueMode, true);
  for (const b of ['', 'Q', 'UU', 'UQQ', 'QU', 'u', 'X', 'UTNSU', 'UNQ', 'U ']) {
    throwsDecodeError(() => parseRegisterQuery(['ep=x', `b=${b}`]), 'registration.query');
  }
});

test('unknown keys are ignored (pid of 1.2, vendor extras), order does not matter', () => {
  const p = parseRegisterQuery(['pid=7', 'b=U', 'apn=internet', 'lt=60', 'ep=dev', 'x', 'lwm2m=1.2']);
  assert.equal(p, { endpoint: 'dev', lifetime: 60, lwm2mVersion: '1.2', binding: 'U', queueMode: false });
  assert.equal(parseRegisterQuery(['ep=dev', 'pid=1', 'pid=2']).endpoint, 'dev');
});

test('each problem → DecodeError registration.query', () => {
  const bad: string[][] = [
    [],
    ['lt=300'],
    ['ep'],
    ['ep='],
    ['ep=a', 'ep=b'],
    ['ep=a\u0000b'],
    ['ep=a\nb'],
    ['ep=a\u007f'],
    ['ep=' + 'x'.repeat(256)],
    ['ep=a', 'lt=0'],
    ['ep=a', 'lt=-1'],
    ['ep=a', 'lt=+5'],
    ['ep=a', 'lt=1.5'],
    ['ep=a', 'lt=030'],
    ['ep=a', 'lt=2147483648'],
    ['ep=a', 'lt=99999999999999999999'],
    ['ep=a', 'lt='],
    ['ep=a', 'lt'],
    ['ep=a', 'lt=1', 'lt=2'],
    ['ep=a', 'lwm2m=1'],
    ['ep=a', 'lwm2m=v1.1'],
    ['ep=a', 'lwm2m=1.1.1'],
    ['ep=a', 'lwm2m='],
    ['ep=a', 'b=U', 'b=U'],
    ['ep=a', 'Q=1'],
    ['ep=a', 'Q', 'Q'],
    ['ep=a', 'sms=+33612345678'],
    ['ep=a', 'sms='],
    ['ep=a', 'sms=1234567890123456'],
    Array.from({ length: 65 }, (_, i) => `x${i}=1`),
  ];
  for (const query of bad) throwsDecodeError(() => parseRegisterQuery(query), 'registration.query');
});

test('the reason starts with the parameter name', () => {
  for (const [query, name] of [
    [['lt=300'], 'ep'],
    [['ep=a', 'lt=0'], 'lt'],
    [['ep=a', 'lwm2m=x'], 'lwm2m'],
    [['ep=a', 'b=Z'], 'b'],
    [['ep=a', 'sms=x'], 'sms'],
    [['ep=a', 'Q=1'], 'Q'],
  ] as Array<[string[], string]>) {
    try {
      parseRegisterQuery(query);
      assert.unreachable();
    } catch (e) {
      assert.ok(e instanceof DecodeError && e.reason.startsWith(name + ' '), `${query.join('&')}: ${String(e)}`);
    }
  }
});

test('ep: 255 characters and printable Unicode are fine', () => {
  assert.is(parseRegisterQuery(['ep=' + 'x'.repeat(255)]).endpoint.length, 255);
  assert.is(parseRegisterQuery(['ep=capteur-été 1']).endpoint, 'capteur-été 1');
  assert.is(parseRegisterQuery(['ep=a=b']).endpoint, 'a=b');
  assert.is(parseRegisterQuery(['ep=a', 'lt=2147483647']).lifetime, 2147483647);
});

test('Transport, Update: everything optional, ep refused, queue mode only when stated', () => {
  assert.equal(parseUpdateQuery([]), {});
  assert.equal(parseUpdateQuery(['lt=120']), { lifetime: 120 });
  assert.equal(parseUpdateQuery(['b=UQ']), { binding: 'U', queueMode: true });
  assert.equal(parseUpdateQuery(['b=U']), { binding: 'U', queueMode: false });
  assert.equal(parseUpdateQuery(['b=T', 'Q']), { binding: 'T', queueMode: true });
  assert.equal(parseUpdateQuery(['Q']), { queueMode: true });
  assert.equal(parseUpdateQuery(['sms=33612345678', 'lwm2m=1.1']), { smsNumber: '33612345678' });
  throwsDecodeError(() => parseUpdateQuery(['ep=dev1']), 'registration.query');
  throwsDecodeError(() => parseUpdateQuery(['lt=0']), 'registration.query');
  throwsDecodeError(() => parseUpdateQuery(['lt=1', 'lt=1']), 'registration.query');
  throwsDecodeError(() => parseUpdateQuery(['b=X']), 'registration.query');
  throwsDecodeError(() => parseUpdateQuery(['Q=yes']), 'registration.query');
});

test('formatRegisterQuery: 1.1 puts Q apart, 1.0 folds it into the binding; round trip', () => {
  const p11 = { endpoint: 'dev1', lifetime: 300, lwm2mVersion: '1.1', binding: 'U', queueMode: true };
  assert.equal(formatRegisterQuery(p11), ['ep=dev1', 'lt=300', 'lwm2m=1.1', 'b=U', 'Q']);
  const p10 = { endpoint: 'dev1', lifetime: 300, lwm2mVersion: '1.0', binding: 'US', queueMode: true, smsNumber: '123' };
  assert.equal(formatRegisterQuery(p10), ['ep=dev1', 'lt=300', 'lwm2m=1.0', 'b=UQS', 'sms=123']);
  assert.equal(formatRegisterQuery({ ...p10, binding: 'S', smsNumber: undefined }).slice(3), ['b=SQ']);
  for (const p of [
    p11,
    p10,
    { endpoint: 'e', lifetime: 86400, lwm2mVersion: '1.0', binding: 'U', queueMode: false },
    { endpoint: 'e', lifetime: 1, lwm2mVersion: '1.2', binding: 'UNT', queueMode: false },
    { endpoint: 'e', lifetime: 1, lwm2mVersion: '1.0', binding: 'T', queueMode: true },
  ]) {
    assert.equal(parseRegisterQuery(formatRegisterQuery(p)), p);
  }
});

test('formatRegisterQuery refuses values it could not parse back (RangeError)', () => {
  const ok = { endpoint: 'dev1', lifetime: 300, lwm2mVersion: '1.1', binding: 'U', queueMode: false };
  assert.throws(() => formatRegisterQuery({ ...ok, endpoint: '' }), RangeError);
  assert.throws(() => formatRegisterQuery({ ...ok, lifetime: 0 }), RangeError);
  assert.throws(() => formatRegisterQuery({ ...ok, lifetime: 1.5 }), RangeError);
  assert.throws(() => formatRegisterQuery({ ...ok, lwm2mVersion: 'one' }), RangeError);
  assert.throws(() => formatRegisterQuery({ ...ok, binding: 'UQ' }), RangeError);
  assert.throws(() => formatRegisterQuery({ ...ok, binding: 'X' }), RangeError);
  assert.throws(() => formatRegisterQuery({ ...ok, smsNumber: '+1' }), RangeError);
});

test.run();
