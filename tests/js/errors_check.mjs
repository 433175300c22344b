// errorMessage (static/js/errors.js) against a page's catalogue, without a browser.
// Run by tests/unit/test_errors_js.py: node errors_check.mjs; prints one JSON object of findings.
const catalogue = {
  'qa.rate_limited': 'Wait {retry_after} s.',
  'auth.forbidden': 'You are not allowed to do this.',
  'auth.forbidden.polls': 'Only moderators can run polls.',
  'server.error': 'An unexpected error occurred.',
}
const blocks = { 'error-strings': { textContent: JSON.stringify(catalogue) } }
globalThis.document = { getElementById: (id) => blocks[id] ?? null, documentElement: { lang: 'en' } }

const { errorMessage } = await import('../../static/js/errors.js')
// As protocol.js's request() rejects (a ServerError; that module needs socket.io, so not here).
const thrown = Object.assign(new Error('x'), { code: 'qa.rate_limited', details: { retry_after: 5 } })

console.log(JSON.stringify({
  byCode: errorMessage({ code: 'qa.rate_limited', message: 'Vänta 3 s.', details: { retry_after: 3 } }),
  thrown: errorMessage(thrown),
  ack: errorMessage({ ok: false, error: { code: 'qa.rate_limited', details: { retry_after: 7 } } }),
  byKey: errorMessage({ code: 'auth.forbidden', key: 'auth.forbidden.polls', message: 'x' }),
  keyedWithoutKey: errorMessage({ code: 'auth.forbidden', message: 'Only moderators can run polls.' }),
  unknownCode: errorMessage({ code: 'nope.unknown', message: 'The server said so.' }),
  nothing: errorMessage({}),
  plainError: errorMessage(new Error('timeout')),
}))
