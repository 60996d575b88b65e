// verdictOf, the pure verdict of one device (or group) from its class's facts: a table of cases,
// one per rule and per precedence between rules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { verdictOf, type ClassFacts, type Verdict } from '../../../server/compliance/verdict.ts';

const releases = new Map([
  ['0.9', { sequence: 0, approved: true }],
  ['1.0', { sequence: 1, approved: true }],
  ['1.1', { sequence: 2, approved: true }],
  ['2.0', { sequence: 3, approved: true }],
  ['2.1', { sequence: 4, approved: false }],
  ['lab', { sequence: null, approved: true }],
]);
const facts = (o: Partial<ClassFacts> = {}): ClassFacts => ({ releases, minimumVersion: '1.1', approvedVersions: null, vulnerable: new Set(['1.1']), ...o });

const cases: Array<[string, string | null, boolean, ClassFacts | undefined, Verdict]> = [
  ['at or above the minimum, approved, seen', '2.0', false, facts(), 'compliant'],
  ['the minimum itself, not vulnerable', '1.1', false, facts({ vulnerable: new Set() }), 'compliant'],
  ['marked vulnerable', '1.1', false, facts(), 'vulnerable'],
  ['vulnerable before stale', '1.1', true, facts(), 'vulnerable'],
  ['vulnerable though no release of the class', '9.9', false, facts({ vulnerable: new Set(['9.9']) }), 'vulnerable'],
  ['no version', null, false, facts(), 'unknown'],
  ['no class', '2.0', false, undefined, 'unknown'],
  ['not a release of its class', '9.9', false, facts(), 'unknown'],
  ['unknown before stale', '9.9', true, facts(), 'unknown'],
  ['below the minimum', '1.0', false, facts(), 'outdated'],
  ['below the minimum, though approved explicitly', '1.0', false, facts({ approvedVersions: ['1.0', '2.0'] }), 'outdated'],
  ['outdated before stale', '1.0', true, facts(), 'outdated'],
  ['above the minimum, but its image is not approved', '2.1', false, facts(), 'outdated'],
  ['not approved by state, but in the approved list', '2.1', false, facts({ approvedVersions: ['2.1'] }), 'compliant'],
  ['approved by state, but not in the approved list', '2.0', false, facts({ approvedVersions: ['2.1'] }), 'outdated'],
  ['an empty approved list approves nothing', '2.0', false, facts({ approvedVersions: [] }), 'outdated'],
  ['a release without a sequence number cannot be shown above the minimum', 'lab', false, facts(), 'outdated'],
  ['a release without a sequence number, and no minimum', 'lab', false, facts({ minimumVersion: null }), 'compliant'],
  ['a minimum that is no release: nothing reaches it', '2.0', false, facts({ minimumVersion: '7.0' }), 'outdated'],
  ['no minimum: old releases pass', '0.9', false, facts({ minimumVersion: null }), 'compliant'],
  ['stale', '2.0', true, facts(), 'stale'],
];

for (const [what, version, stale, f, expected] of cases) {
  test(`${what}: ${expected}`, () => {
    assert.is(verdictOf({ version, stale }, f), expected);
  });
}

test.run();
