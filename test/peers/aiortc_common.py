"""What the aiortc peers share: loopback-only ICE, the HTTP exchange, JSON lines for the test."""
import asyncio
import json
import sys
import threading
import urllib.error
import urllib.request
from urllib.parse import urljoin

import aioice.ice

# aioice leaves 127.0.0.1 out of its host candidates by name; tests keep every packet on loopback.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def emit(event, **fields):
    """One JSON line on stdout: what the Node test reads."""
    print(json.dumps({"event": event, **fields}), flush=True)


def _request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as res:
            return res.status, dict(res.headers), res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


async def request(method, url, body=None, headers=None):
    return await asyncio.to_thread(_request, method, url, body, headers)


async def exchange(pc, url, token=None):
    """POST the offer (aiortc gathers every candidate in setLocalDescription); apply a 201 answer."""
    from aiortc import RTCSessionDescription

    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, res_headers, body = await request("POST", url, pc.localDescription.sdp.encode(), headers)
    location = res_headers.get("Location") or res_headers.get("location")
    emit("answer", status=status, location=location, body=body if status != 201 else None)
    if status == 201:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return status, location


async def delete(base, location):
    """DELETE the session resource (Location is relative to the endpoint's URL)."""
    code, _, _ = await request("DELETE", urljoin(base, location))
    emit("deleted", status=code)


def run(main):
    """Run main(stopped): `stopped` is set when stdin closes (the test wants the peer to end)."""

    async def guarded():
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()

        def watch_stdin():
            sys.stdin.read()
            loop.call_soon_threadsafe(stopped.set)

        # A daemon thread: a blocked read must not keep the process alive at exit.
        threading.Thread(target=watch_stdin, daemon=True).start()
        try:
            await main(stopped)
        except Exception as err:  # noqa: BLE001 - reported to the test, which fails on it
            emit("error", message=repr(err))

    asyncio.run(guarded())
    emit("exit")
