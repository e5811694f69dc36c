import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scaledDeadline, scaledTimeout, timeoutScale, type MachineLoad } from './timeout-scale.js';

const machine =
  (load1: number, cpus = 2, load5 = 0) =>
  () =>
    ({ load1, load5, cpus }) satisfies MachineLoad;

test('an idle machine keeps the base limit; load per CPU stretches it, up to 4×', () => {
  assert.equal(timeoutScale({ env: {}, load: machine(0) }), 1);
  assert.equal(scaledTimeout(10_000, { env: {}, load: machine(0) }), 10_000);
  assert.equal(timeoutScale({ env: {}, load: machine(2) }), 2, 'two burners on two cores');
  assert.equal(timeoutScale({ env: {}, load: machine(4) }), 3);
  assert.equal(timeoutScale({ env: {}, load: machine(64) }), 4, 'clamped');
  assert.equal(
    timeoutScale({ env: {}, load: machine(1, 2, 3) }),
    2.5,
    'the busier of the 1- and 5-minute loads',
  );
});

test('CI=true adds headroom; WXMESH_TIMEOUT_SCALE replaces the computed factor', () => {
  assert.equal(timeoutScale({ env: { CI: 'true' }, load: machine(0) }), 1.5);
  assert.equal(timeoutScale({ env: { CI: 'true' }, load: machine(64) }), 6);
  assert.equal(timeoutScale({ env: { CI: 'false' }, load: machine(0) }), 1);
  assert.equal(timeoutScale({ env: { WXMESH_TIMEOUT_SCALE: '2.5', CI: 'true' }, load: machine(64) }), 2.5);
  assert.equal(scaledTimeout(1000, { env: { WXMESH_TIMEOUT_SCALE: '0.5' } }), 500);
});

test('a bad WXMESH_TIMEOUT_SCALE is an error that names the variable', () => {
  for (const bad of ['fast', '0', '-1', 'Infinity']) {
    assert.throws(
      () => timeoutScale({ env: { WXMESH_TIMEOUT_SCALE: bad } }),
      /WXMESH_TIMEOUT_SCALE: expected a positive number/,
    );
  }
});

test('a scaled deadline re-reads the load when asked, and never shrinks', () => {
  let now = 0;
  let load = 0;
  const deadline = scaledDeadline(1000, { env: {}, load: () => machine(load)(), now: () => now });
  assert.equal(deadline.remainingMs(), 1000);
  now = 1000;
  load = 2; // the machine got busy while we waited
  assert.equal(deadline.limitMs(), 2000);
  assert.equal(deadline.remainingMs(), 1000);
  assert.equal(deadline.factor, 2);
  load = 0; // and calm again: the longer limit stays
  now = 2000;
  assert.equal(deadline.remainingMs(), 0);
  assert.equal(deadline.limitMs(), 2000);
});
