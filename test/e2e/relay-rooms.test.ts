/** Relay rooms: the broadcaster uploads once; lancast forwards to every viewer. */
import { roomBehaviours } from './room-behaviours.js';

roomBehaviours('relay');
