import wrtc from '@roamhq/wrtc';
for (const s of [{ urls: 'turn:host:3478' }, { urls: 'turn:user@host:3478' }, { urls: 'turn:host:3478', username: 'u', credential: '' }, { urls: 'turn:host:3478', username: 'u', credential: 'p' }]) {
  try { const pc = new wrtc.RTCPeerConnection({ iceServers: [s] }); console.log('ok', JSON.stringify(s)); pc.close(); } catch (e) { console.log('THROWS', JSON.stringify(s), e.name, e.message); }
}
