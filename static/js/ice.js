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

/**
 * The route a connection's media takes now, from its selected candidate pair: the local and
 * remote candidate types ('host', 'srflx', 'prflx' or 'relay'), the local address and, when
 * relayed, how this browser reaches its TURN server ('udp', 'tcp' or 'tls'). For support and the tests: a
 * participant behind a firewall that blocks UDP shows `local: 'relay', relayProtocol: 'tcp'`.
 * @param {RTCPeerConnection} pc
 * @returns {Promise<{local: string, remote: string, relayProtocol: string, address: string}|null>}
 */
export async function route(pc) {
  const report = await pc.getStats();
  /** @type {any} */
  let pair = null;
  report.forEach((/** @type {any} */ s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair ??= report.get(s.selectedCandidatePairId);
  });
  if (!pair) return null;
  const local = report.get(pair.localCandidateId);
  const remote = report.get(pair.remoteCandidateId);
  return {
    local: local?.candidateType ?? '', remote: remote?.candidateType ?? '',
    relayProtocol: local?.relayProtocol ?? '', address: local?.address ?? '',
  };
}

/** Bytes a connection has received: media, RTCP and STUN alike. A connection that should carry
 * something and whose count stands still is gone, long before the browser says `failed`.
 * @param {RTCPeerConnection} pc */
export async function receivedBytes(pc) {
  let bytes = 0;
  (await pc.getStats()).forEach((/** @type {any} */ r) => { if (r.type === 'transport') bytes += r.bytesReceived ?? 0; });
  return bytes;
}
