// A browser notes editor without the browser: static/js/notes_protocol.js (the page's own
// protocol module, vendored Yjs) over a real socket.io client, driven line by line from stdin.
//
//   node --import ./static_loader.mjs notes_sio_peer.mjs <server url> <socket token> <room id>
//
// Commands (answered by zero or more lines, then "ok" or "error <why>"):
//   synced                         -> "ok" once sync step 2 has arrived (else "error")
//   type <theme> <where> <b64>     where: start | end; one transaction per code point
//   edit <theme> <b64 new value>   as the textarea binding does: diff() then delete/insert
//   delete <theme> <index> <len>   Yjs (UTF-16) positions
//   cursor <b64 name> <theme>      awareness: who we are and which theme we are in
//   offline | online               drop / restore the connection (edits go on meanwhile)
//   dump                           -> texts <b64 JSON>, peers <JSON [[name, theme]]>, refusals <JSON [codes]>
import { createInterface } from 'node:readline'
import { io } from 'socket.io-client'
import { NotesLink, diff } from '../../static/js/notes_protocol.js'

const [url, token, room] = process.argv.slice(2)
const socket = io(url, { auth: { token }, transports: ['websocket'], reconnection: false })
const errors = []
const link = new NotesLink(socket, Number(room), { onError: (e) => errors.push(e.code) })
const out = []
const utf8 = (b64) => Buffer.from(b64, 'base64').toString('utf-8')

function section (theme) {
  const text = link.section(theme)
  if (!text) throw new Error(`no section ${theme} from the server yet`)
  return text
}

function type (theme, where, value) {
  const text = section(theme)
  let at = where === 'start' ? 0 : text.length
  for (const char of value) {
    text.insert(at, char)
    at += char.length
  }
}

function edit (theme, value) {
  const text = section(theme)
  const change = diff(text.toString(), value)
  link.doc.transact(() => {
    if (change.remove) text.delete(change.index, change.remove)
    if (change.insert) text.insert(change.index, change.insert)
  })
}

function dump () {
  const texts = {}
  link.doc.getMap('themes').forEach((value, key) => { texts[key] = value.toString() })
  const peers = [...link.awareness.getStates().entries()]
    .filter(([id]) => id !== link.doc.clientID)
    .map(([, state]) => [state.user?.name, state.theme])
  out.push(`texts ${Buffer.from(JSON.stringify(texts), 'utf-8').toString('base64')}`)
  out.push(`peers ${JSON.stringify(peers)}`)
  out.push(`refusals ${JSON.stringify(errors)}`)
}

const commands = {
  synced: () => { if (!link.synced) throw new Error('not synced yet') },
  type: (theme, where, value) => type(theme, where, utf8(value)),
  edit: (theme, value) => edit(theme, utf8(value)),
  delete: (theme, index, length) => section(theme).delete(Number(index), Number(length)),
  cursor: (name, theme) => link.awareness.setLocalState({ user: { name: utf8(name) }, theme }),
  offline: () => socket.disconnect(),
  online: () => socket.connect(),
  dump: () => dump()
}

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
link.close()
socket.close()
process.exit(0)
