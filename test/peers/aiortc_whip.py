"""aiortc as a WHIP publisher: a moving 320x240 picture and a 440 Hz tone, audio and video bundled.

Usage: aiortc_whip.py <whip url> <publish key>. Prints JSON lines; closing stdin DELETEs the
session and exits.
"""
import asyncio
import fractions
import sys

import numpy
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from av import AudioFrame, VideoFrame

from aiortc_common import delete, emit, exchange, run


class Pattern(VideoStreamTrack):
    """Horizontal bands that move every frame, so the encoder has something to send."""

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        self.n += 1
        rows = (numpy.arange(240, dtype=numpy.uint16)[:, None] + self.n * 4) % 256
        picture = numpy.repeat(rows.astype(numpy.uint8), 320, axis=1)
        frame = VideoFrame.from_ndarray(numpy.stack([picture] * 3, axis=2), format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class Tone(AudioStreamTrack):
    """A 440 Hz sine at 48 kHz in 20 ms frames."""

    RATE = 48000
    SAMPLES = 960

    def __init__(self):
        super().__init__()
        self.t = 0
        self.start = None

    async def recv(self):
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        else:
            await asyncio.sleep(max(0, self.start + self.t / self.RATE - loop.time()))
        n = numpy.arange(self.t, self.t + self.SAMPLES)
        samples = (8000 * numpy.sin(2 * numpy.pi * 440 * n / self.RATE)).astype(numpy.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.RATE
        frame.pts, frame.time_base = self.t, fractions.Fraction(1, self.RATE)
        self.t += self.SAMPLES
        return frame


async def main(stopped):
    url, key = sys.argv[1], sys.argv[2]
    pc = RTCPeerConnection()

    @pc.on("connectionstatechange")
    def on_state():
        emit("connection", state=pc.connectionState)

    pc.addTransceiver(Tone(), direction="sendonly")
    pc.addTransceiver(Pattern(), direction="sendonly")
    status, location = await exchange(pc, url, key)
    if status == 201:
        await stopped.wait()
        await delete(url, location)
    await pc.close()


run(main)
