import * as assert from 'uvu/assert';

/** Awaits a promise that must reject; returns its error. */
export async function rejects(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, Error);
    return err as Error;
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}
