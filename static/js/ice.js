// @ts-check
/**
 * The STUN and TURN servers for this person's peer connections (issue 21): asked of the server
 * (`GET /api/ice-servers`) before each new connection, so a TURN credential is always fresh
 * (they expire). Without them a participant whose network blocks UDP gets no media at all;
 * with them the browser relays over TURN (TCP or TLS on 443 where only that gets through).
 * Never fails: with no answer, the connection tries without (direct and host candidates).
 * @returns {Promise<RTCIceServer[]>}
 */
export async function iceServers() {
  try {
    const answer = await fetch('/api/ice-servers', { credentials: 'same-origin', cache: 'no-store' });
    if (!answer.ok) return [];
    const body = await answer.json();
    return Array.isArray(body.iceServers) ? body.iceServers : [];
  } catch {
    return [];
  }
}
