// The token buckets behind the Register limits (register-limits.ts), on a clock the test sets:
// burst then rate, all-or-nothing across scopes, the narrowest empty scope named, Max-Age from
// the wait, IPv6 counted by /64, and a bounded table.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addressKey, RegisterLimits } from '../../../server/coap/register-limits.ts';

const noJitter = { random: () => 0 };

test('a bucket gives its burst at once, then `rate` a second', () => {
  const limits = new RegisterLimits({ perIp: { rate: 2, burst: 3 } }, noJitter);
  const at = (ms: number) => limits.admit('10.0.0.1', 1000, ms);
  assert.equal([at(0), at(0), at(0)].map((a) => a.admitted), [true, true, true]);
  assert.equal(at(0), { admitted: false, scope: 'ip', retryAfterSeconds: 1 });
  assert.is(at(499).admitted, false);
  assert.is(at(500).admitted, true, 'half a second at 2/s is one token');
  assert.is(at(500).admitted, false);
  assert.equal([at(60_000), at(60_000), at(60_000), at(60_000)].map((a) => a.admitted), [true, true, true, false], 'refilled to the burst, no more');
  assert.is(limits.admit('10.0.0.2', 1000, 60_000).admitted, true, 'another address has its own bucket');
});

test('scopes: the socket, its address and the server; a refusal takes no token from any', () => {
  const limits = new RegisterLimits({ perIpPort: { rate: 1 / 3600, burst: 2 }, perIp: { rate: 1 / 3600, burst: 3 }, global: { rate: 1 / 3600, burst: 5 } }, noJitter);
  assert.is(limits.admit('10.0.0.1', 1, 0).admitted, true);
  assert.is(limits.admit('10.0.0.1', 1, 0).admitted, true);
  const bySocket = limits.admit('10.0.0.1', 1, 0);
  assert.is(bySocket.admitted === false && bySocket.scope, 'ip-port');
  assert.is(limits.admit('10.0.0.1', 2, 0).admitted, true, 'another port: the address had one left');
  const byAddress = limits.admit('10.0.0.1', 3, 0);
  assert.is(byAddress.admitted === false && byAddress.scope, 'ip');
  assert.is(limits.admit('10.0.0.2', 1, 0).admitted, true);
  assert.is(limits.admit('10.0.0.3', 1, 0).admitted, true);
  const byServer = limits.admit('10.0.0.4', 1, 0);
  assert.is(byServer.admitted === false && byServer.scope, 'global');
  assert.ok(byServer.admitted === false && byServer.retryAfterSeconds > 3000, 'Max-Age: when the bucket holds a token again (1/h)');
});

test('Max-Age is spread over the refill time, so a refused crowd does not return at once; at least 1 s', () => {
  const limits = new RegisterLimits({ global: { rate: 10, burst: 100 } }, { random: () => 0.999 });
  for (let i = 0; i < 100; i++) limits.admit('10.0.0.1', i, 0);
  const refused = limits.admit('10.0.0.1', 999, 0);
  assert.equal(refused, { admitted: false, scope: 'global', retryAfterSeconds: 11 }, '0.1 s for a token + up to 10 s (burst / rate)');
  const fast = new RegisterLimits({ global: { rate: 1000, burst: 1 } }, noJitter);
  fast.admit('10.0.0.1', 1, 0);
  assert.equal(fast.admit('10.0.0.1', 1, 0), { admitted: false, scope: 'global', retryAfterSeconds: 1 });
});

test('no limit configured: disabled, every Register admitted', () => {
  const limits = new RegisterLimits({});
  assert.is(limits.enabled, false);
  for (let i = 0; i < 1000; i++) assert.ok(limits.admit('10.0.0.1', 1).admitted);
});

test('IPv6 counts by /64 (one subscriber); IPv4-mapped IPv6 as IPv4; IPv4 as it is', () => {
  assert.is(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.is(addressKey('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
  assert.is(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.is(addressKey('::1'), '0:0:0:0::/64');
  assert.is(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.is(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.is(addressKey('192.0.2.7'), '192.0.2.7');
  const limits = new RegisterLimits({ perIp: { rate: 1 / 3600, burst: 1 } }, noJitter);
  assert.is(limits.admit('2001:db8:1:2::a', 5, 0).admitted, true);
  assert.is(limits.admit('2001:db8:1:2::b', 5, 0).admitted, false, 'same /64');
  assert.is(limits.admit('2001:db8:1:3::a', 5, 0).admitted, true, 'another /64');
});

test('the table is bounded: the least recently seen source is forgotten (and starts full again)', () => {
  const limits = new RegisterLimits({ perIp: { rate: 1 / 3600, burst: 1 } }, { ...noJitter, tracked: 3 });
  for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) assert.ok(limits.admit(a, 1, 0).admitted);
  assert.is(limits.admit('10.0.0.1', 1, 0).admitted, false);
  assert.ok(limits.admit('10.0.0.4', 1, 0).admitted, 'pushes out 10.0.0.2, the least recently seen');
  assert.is(limits.admit('10.0.0.1', 1, 0).admitted, false, 'still tracked');
  assert.ok(limits.admit('10.0.0.2', 1, 0).admitted, 'forgotten: a full bucket again');
});

test.run();
