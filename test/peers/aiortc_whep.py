"""aiortc as a WHEP player: offers audio and video (recvonly), counts decoded frames of each.

Usage: aiortc_whep.py <whep url>. Prints JSON lines; closing stdin DELETEs the session and exits.
"""
import asyncio
import sys

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from aiortc_common import delete, emit, exchange, run

counts = {"video": 0, "audio": 0, "width": 0, "height": 0}


async def consume(track):
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        counts[track.kind] += 1
        if track.kind == "video":
            counts["width"], counts["height"] = frame.width, frame.height


async def main(stopped):
    url = sys.argv[1]
    pc = RTCPeerConnection()
    tasks = []

    @pc.on("track")
    def on_track(track):
        emit("track", kind=track.kind)
        tasks.append(asyncio.ensure_future(consume(track)))

    @pc.on("connectionstatechange")
    def on_state():
        emit("connection", state=pc.connectionState)

    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    status, location = await exchange(pc, url)
    if status == 201:
        while not stopped.is_set():
            emit("frames", **counts)
            try:
                await asyncio.wait_for(stopped.wait(), 0.25)
            except asyncio.TimeoutError:
                pass
        await delete(url, location)
    for task in tasks:
        task.cancel()
    await pc.close()


run(main)
