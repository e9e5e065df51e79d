'use strict';
// Per-file test harness: one cluster for the file, started before the first test and
// stopped (with a clean-exit check) after the last. Tests registered through h.test()
// get the cluster's log tails appended to their error when they fail, and fail when a
// server process died unexpectedly while they ran.
//
//   const h = setup({ gwTimeout: 5000 });
//   h.before(async (c) => { ...create users... });
//   h.test('name', async (t, c) => { ... c is the Cluster ... });

const nodeTest = require('node:test');
const { Cluster } = require('./cluster');
const { closeAllClients } = require('./client');

function setup(opts = {}) {
  const h = { cluster: null, failures: 0, inits: [] };

  // One root hook that also runs the file's init functions: with two root-level before
  // hooks, node 20 ran the second without waiting for the first in our trial.
  nodeTest.before(async () => {
    h.cluster = await Cluster.start(opts);
    try {
      for (const fn of h.inits) await fn(h.cluster);
    } catch (e) {
      h.failures++;
      e.message += `\n${h.cluster.logReport()}`;
      throw e;
    }
  });
  // Register fn(cluster) to run once after the cluster started (users, logins).
  h.before = (fn) => h.inits.push(fn);

  nodeTest.after(async () => {
    closeAllClients();
    const c = h.cluster;
    if (!c) return;
    let err;
    try {
      await c.stopAll();
      const u = c.takeUnexpected();
      if (u.length) throw new Error(u.join('; '));
    } catch (e) {
      err = e;
      c.failed = true;
      e.message += `\n${c.logReport()}`;
    }
    if (h.failures) c.failed = true;
    await c.destroy();
    if (c.failed) console.error(`parley e2e: cluster folder kept: ${c.dir}`);
    if (err) throw err;
  });

  h.test = (name, optsOrFn, maybeFn) => {
    const fn = typeof optsOrFn === 'function' ? optsOrFn : maybeFn;
    const topts = { timeout: 120000, ...(typeof optsOrFn === 'object' ? optsOrFn : {}) };
    return nodeTest.test(name, topts, async (t) => {
      const c = h.cluster;
      if (!c) throw new Error('cluster did not start');
      c.takeUnexpected();
      try {
        await fn(t, c);
        const u = c.takeUnexpected();
        if (u.length) throw new Error(`server process died during the test: ${u.join('; ')}`);
      } catch (e) {
        h.failures++;
        const u = c.takeUnexpected();
        if (!(e instanceof Error)) throw e;
        if (u.length) e.message += `\n(also: ${u.join('; ')})`;
        e.message += `\n${c.logReport(Number(process.env.PARLEY_E2E_LOG_LINES || 40))}`;
        throw e;
      } finally {
        closeAllClients();
      }
    });
  };
  return h;
}

// Unique-enough string for client_msg_ids.
let n = 0;
const uid = (p = 'm') => `${p}-${process.pid}-${Date.now().toString(36)}-${++n}`;

module.exports = { setup, uid };
