// @ts-check
/** The one socket of a page, shared by every feature module on it (ES modules are singletons). */
import { connect } from './protocol.js';
import { bindConnectionState } from './ui.js';

const root = /** @type {HTMLElement} */ (document.querySelector('[data-event-slug]'));
export const slug = root?.dataset.eventSlug ?? '';
export const socket = connect(slug);
bindConnectionState(socket);
