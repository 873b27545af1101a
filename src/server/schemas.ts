/**
 * Response schemas of the JSON routes. fastify serializes a reply through its schema, so a field
 * that is not declared here never leaves the server: a secret added to an object by mistake is
 * dropped, not published. Adding a field to an answer means adding it here.
 */
const str = { type: 'string' } as const;
const num = { type: 'number' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;

const object = (properties: Record<string, unknown>, required: string[] = Object.keys(properties)) =>
  ({ type: 'object', additionalProperties: false, properties, required }) as const;

export const roomsSchema = {
  response: {
    200: object({
      rooms: {
        type: 'array',
        items: object(
          {
            name: str,
            live: bool,
            protected: bool,
            viewers: int,
            mode: str,
            reason: str,
            bitrate: object({ in: num, out: num }),
            paused: bool,
            /** In a cluster: the node the room's broadcaster is connected to. */
            origin: str,
            /** A simulcast publisher's layers, and how many viewers play each. */
            layers: {
              type: 'array',
              items: object({ rid: str, width: int, height: int, bitsPerSecond: num, viewers: int, active: bool, paused: bool }),
            },
          },
          ['name', 'live', 'viewers', 'mode'],
        ),
      },
    }),
  },
} as const;

export const infoSchema = {
  response: { 200: object({ version: str, addresses: { type: 'array', items: str }, port: int }) },
} as const;

export const healthSchema = {
  response: { 200: object({ ok: bool, version: str, uptime: int }) },
} as const;

const recordingStatus = object(
  {
    room: str,
    state: { type: 'string', enum: ['waiting', 'recording', 'failed'] },
    startedAt: num,
    seconds: num,
    bytes: int,
    parts: { type: 'array', items: str },
    writingSince: num,
    error: str,
  },
  ['room', 'state', 'startedAt', 'seconds', 'bytes', 'parts'],
);

export const recordingStatusSchema = { response: { 200: recordingStatus, 201: recordingStatus } } as const;

export const recordingListSchema = {
  response: {
    200: object({
      recordings: {
        type: 'array',
        items: object({
          file: str,
          room: str,
          startedAt: num,
          part: int,
          duration: { type: ['number', 'null'] },
          bytes: int,
          recording: bool,
          url: str,
        }),
      },
    }),
  },
} as const;
