"""static/js/qa_protocol.js in Node: a version gap re-fetches the snapshot, old ones are ignored.

The store runs unchanged against a fake socket; only the socket.io client module it imports
(through static/js/protocol.js) is replaced by a stub, with a Node module-resolution hook.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

HOOKS = """
export async function resolve(specifier, context, next) {
  if (specifier === '/static/vendor/socket.io.esm.min.js') {
    return { url: 'data:text/javascript,export const io = () => null;', shortCircuit: true };
  }
  return next(specifier, context);
}
"""

SCRIPT = """
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(%(hooks)s));
const { QaStore } = await import(%(module)s);

const q = (id, state = 'approved', extra = {}) =>
  ({ id, state, text: `Fråga ${id}`, votes: 0, ...extra });
const snapshots = [
  { version: 5, settings: { open: true, premoderation: true, allow_anonymous: true },
    on_screen_id: null, questions: [q(1)] },
  { version: 9, settings: { open: true, premoderation: true, allow_anonymous: true },
    on_screen_id: null, questions: [q(1, 'answered', { answer: 'Ja' }), q(2)] },
];
const handlers = new Map();
const calls = [];
const socket = {
  connected: true,
  on(name, fn) { handlers.set(name, fn); },
  timeout() {
    return { emit(name, payload, cb) {
      calls.push(name);
      const snap = snapshots[Math.min(calls.length, snapshots.length) - 1];
      setTimeout(() => cb(null, { ok: true, ...structuredClone(snap) }), 5);
    } };
  },
};
const tick = () => new Promise((r) => setTimeout(r, 30));
const state = (store) => ({ version: store.version, snapshots: calls.length,
  questions: [...store.questions.values()].map((x) => [x.id, x.state, x.votes]) });

const store = new QaStore(socket);
await tick();
const seen = { start: state(store) };
handlers.get('qa.votes')({ version: 6, id: 1, votes: 3 });
seen.next = state(store);
handlers.get('qa.question')({ version: 9, question: q(2) });  // 7 and 8 were missed
await tick();
seen.gap = state(store);
handlers.get('qa.votes')({ version: 8, id: 1, votes: 99 });  // already in the snapshot
seen.old = state(store);
handlers.get('qa.question')({ version: 10, question: q(3) });
seen.after = state(store);
console.log(JSON.stringify(seen));
"""


def test_a_version_gap_refetches_the_snapshot_and_old_messages_are_ignored() -> None:
    module = (ROOT / "static" / "js" / "qa_protocol.js").as_uri()
    script = SCRIPT % {"hooks": json.dumps(HOOKS), "module": json.dumps(module)}
    run = subprocess.run(["node", "--input-type=module", "-e", script], cwd=ROOT, text=True,
                         capture_output=True, timeout=30)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["start"] == {"version": 5, "snapshots": 1, "questions": [[1, "approved", 0]]}
    assert seen["next"] == {"version": 6, "snapshots": 1, "questions": [[1, "approved", 3]]}
    assert seen["gap"] == {"version": 9, "snapshots": 2,
                           "questions": [[1, "answered", 0], [2, "approved", 0]]}
    assert seen["old"] == seen["gap"], "a message older than the snapshot changes nothing"
    assert seen["after"]["version"] == 10 and seen["after"]["snapshots"] == 2
    assert [x[0] for x in seen["after"]["questions"]] == [1, 2, 3]
