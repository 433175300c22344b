// Node resolve hooks: the browser modules import "/static/..." (served by the app); here those
// paths are files of the repository, and the vendored socket.io client is npm's same version.
const ROOT = new URL('../../', import.meta.url)

export async function resolve (specifier, context, next) {
  if (specifier === '/static/vendor/socket.io.esm.min.js') {
    return next('socket.io-client', { ...context, parentURL: import.meta.url })
  }
  if (specifier.startsWith('/static/')) {
    return { url: new URL('.' + specifier, ROOT).href, shortCircuit: true }
  }
  return next(specifier, context)
}
