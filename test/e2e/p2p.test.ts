/** Peer-to-peer rooms: the broadcaster's page sends to each viewer. */
import { roomBehaviours } from './room-behaviours.js';

roomBehaviours('p2p');
