// node --import ./static_loader.mjs: lets Node load the browser's ES modules from static/.
import { register } from 'node:module'
register('./static_hooks.mjs', import.meta.url)
