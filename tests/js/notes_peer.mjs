// A Yjs notes editor driven line by line over stdin/stdout, for the Python interop tests.
//
// It speaks y-protocols with the vendored bundle, exactly as the browser does, and never creates
// theme sections: it waits for the server's (see rooms/notes.py).
//
// Commands (one per line, answered by zero or more lines, then "ok" or "error <why>"):
//   hello                     -> send <b64 sync step 1>
//   recv <b64 message>        -> send <b64 reply>*      (a message from the server)
//   type <theme> <where> <b64 utf-8 text>   where: start | end; one update per character
//   delete <theme> <index> <length>         Yjs (UTF-16) positions
//   cursor <b64 utf-8 name>   -> send <b64 awareness>   set our awareness state
//   dump                      -> texts <b64 JSON {theme: text}>, peers <JSON [names]>
// Every local change is answered with "send <b64 update message>" lines.

import { createInterface } from 'node:readline'
import { Y, syncProtocol, awarenessProtocol, encoding, decoding } from '../../static/vendor/yjs.mjs'

const MESSAGE_SYNC = 0
const MESSAGE_AWARENESS = 1
const REMOTE = 'remote'

const doc = new Y.Doc()
const awareness = new awarenessProtocol.Awareness(doc)
const out = []

const b64 = (bytes) => Buffer.from(bytes).toString('base64')
const fromB64 = (text) => new Uint8Array(Buffer.from(text, 'base64'))
const utf8 = (text) => Buffer.from(text, 'base64').toString('utf-8')
const send = (bytes) => out.push(`send ${b64(bytes)}`)

doc.on('update', (update, origin) => {
  if (origin === REMOTE) return // echoing a remote update back would be wasted traffic
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  syncProtocol.writeUpdate(encoder, update)
  send(encoding.toUint8Array(encoder))
})

awareness.on('update', ({ added, updated, removed }, origin) => {
  if (origin === REMOTE) return
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_AWARENESS)
  const changed = added.concat(updated, removed)
  encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(awareness, changed))
  send(encoding.toUint8Array(encoder))
})

function section (theme) {
  const text = doc.getMap('themes').get(theme)
  if (!(text instanceof Y.Text)) throw new Error(`no section ${theme} from the server yet`)
  return text
}

function receive (bytes) {
  const decoder = decoding.createDecoder(bytes)
  const encoder = encoding.createEncoder()
  const kind = decoding.readVarUint(decoder)
  if (kind === MESSAGE_SYNC) {
    encoding.writeVarUint(encoder, MESSAGE_SYNC)
    syncProtocol.readSyncMessage(decoder, encoder, doc, REMOTE)
    if (encoding.length(encoder) > 1) send(encoding.toUint8Array(encoder))
  } else if (kind === MESSAGE_AWARENESS) {
    awarenessProtocol.applyAwarenessUpdate(awareness, decoding.readVarUint8Array(decoder), REMOTE)
  }
}

function hello () {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  syncProtocol.writeSyncStep1(encoder, doc)
  send(encoding.toUint8Array(encoder))
}

function type (theme, where, text) {
  const target = section(theme)
  let at = where === 'start' ? 0 : target.length
  for (const char of text) { // by code point: an emoji is never split into halves
    target.insert(at, char)
    at += char.length
  }
}

function dump () {
  const texts = {}
  doc.getMap('themes').forEach((value, key) => { texts[key] = value.toString() })
  const peers = [...awareness.getStates().entries()]
    .filter(([id]) => id !== doc.clientID)
    .map(([, state]) => state.user?.name)
  out.push(`texts ${b64(Buffer.from(JSON.stringify(texts), 'utf-8'))}`)
  out.push(`peers ${JSON.stringify(peers)}`)
}

const commands = {
  hello: () => hello(),
  recv: (message) => receive(fromB64(message)),
  type: (theme, where, text) => type(theme, where, utf8(text)),
  delete: (theme, index, length) => section(theme).delete(Number(index), Number(length)),
  cursor: (name) => awareness.setLocalState({ user: { name: utf8(name) } }),
  dump: () => dump()
}

awareness.setLocalState(null) // no state until the test sets a cursor
out.length = 0

for await (const line of createInterface({ input: process.stdin })) {
  const [name, ...args] = line.trim().split(' ')
  try {
    commands[name](...args)
    out.push('ok')
  } catch (error) {
    out.push(`error ${String(error.message).replaceAll('\n', ' ')}`)
  }
  process.stdout.write(out.join('\n') + '\n')
  out.length = 0
}

// The awareness timer would keep Node alive after stdin closes.
awareness.destroy()
process.exit(0)
