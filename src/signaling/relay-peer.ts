/** The relay's peer id on the wire: the `from` of what it sends, the `to` of what goes to it. */
export const RELAY_PEER_ID = 'relay';
