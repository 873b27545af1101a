/**
 * Transitional: ice.ts and test/helpers/werift-peer.ts still import this file for its effect while
 * another change to them is under way; the patches live in ./werift/ and this file goes next.
 */
import { installWeriftPatches } from './werift/index.js';

installWeriftPatches();
