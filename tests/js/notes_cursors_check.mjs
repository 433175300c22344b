// Remote cursors (static/js/notes_cursors.js) against real Yjs documents, without a browser.
// Run by tests/unit/test_notes_cursors.py: node --import ./static_loader.mjs notes_cursors_check.mjs
// Prints one JSON object of findings; the Python test asserts on it.
import { Y } from '../../static/vendor/yjs.mjs'
import { cursorState, remoteCarets, resolve, colourOf } from '../../static/js/notes_cursors.js'

const sync = (from, to) => Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))

// The server's sections (the browser never creates them): one doc makes them, both load them.
const server = new Y.Doc()
server.getMap('themes').set('kris', new Y.Text('Hej på er'))
server.getMap('themes').set('planer', new Y.Text(''))
const asa = new Y.Doc()
const bo = new Y.Doc()
sync(server, asa)
sync(server, bo)
const asaText = asa.getMap('themes').get('kris')
const boText = bo.getMap('themes').get('kris')

const found = {}
// Åsa's caret after "Hej " and a selection of "på".
const caret = cursorState(asaText, 4, 4)
const selection = cursorState(asaText, 4, 6)
found.jsonSafe = JSON.parse(JSON.stringify(caret)) !== null
found.before = resolve(bo, boText, caret.head)

// Bo types before it, with an emoji (two UTF-16 units): her caret follows the text.
boText.insert(0, 'Malmö 🌻 ')
found.afterInsert = resolve(bo, boText, caret.head)
found.expectedAfterInsert = 4 + 'Malmö 🌻 '.length

const states = new Map([
  [asa.clientID, { user: { name: 'Åsa Öberg' }, theme: 'kris', cursor: JSON.parse(JSON.stringify(selection)) }],
  [bo.clientID, { user: { name: 'Bo' }, theme: 'kris', cursor: cursorState(boText, 0, 0) }],
  [7, { user: { name: 'I ett annat tema' }, theme: 'planer', cursor: caret }],
  [8, { user: { name: 'Trasig' }, theme: 'kris', cursor: { head: { type: 'x', item: 42 } } }],
  [9, { user: { name: 'Utan markör' }, theme: 'kris' }],
])
found.carets = remoteCarets(states, bo.clientID, bo, 'kris', boText)
  .map(({ name, anchor, head }) => ({ name, anchor, head }))

// A caret on characters Bo has not received yet resolves to nothing (drawn once they arrive).
asaText.insert(asaText.length, ' och Luleå')
const unseen = cursorState(asaText, asaText.length - 2, asaText.length - 2)
found.unseen = resolve(bo, boText, unseen.head)
sync(asa, bo)
sync(bo, asa)
found.seen = resolve(bo, boText, unseen.head)
found.text = boText.toString()

// Deleting the text around a caret moves it to where the text was.
boText.delete(0, boText.length)
found.afterDelete = resolve(bo, boText, caret.head)
found.colours = [colourOf(1), colourOf(2 ** 32 + 5), colourOf(1)]
console.log(JSON.stringify(found))
