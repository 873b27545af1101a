#!/usr/bin/env python3
"""A lossy, slow wire between two TUN devices, for tests on a kernel without netem.

    impair.py <tun-a> <tun-b> <loss 0..1> <delay-ms>

Every IP packet read from one device is written to the other after <delay-ms>, unless it is
dropped (probability <loss>). Prints "ready" once both devices exist; runs until killed.
"""
import fcntl, heapq, os, random, select, struct, sys, time

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


a_name, b_name, loss, delay = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]) / 1000
a, b = tun(a_name), tun(b_name)
other = {a: b, b: a}
queue: list = []
seq = 0
stats = {"passed": 0, "dropped": 0}
print("ready", flush=True)
while True:
    timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 1.0
    readable, _, _ = select.select([a, b], [], [], timeout)
    now = time.monotonic()
    for fd in readable:
        packet = os.read(fd, 65535)
        if random.random() < loss:
            stats["dropped"] += 1
            continue
        seq += 1
        heapq.heappush(queue, (now + delay, seq, other[fd], packet))
    while queue and queue[0][0] <= time.monotonic():
        _, _, out, packet = heapq.heappop(queue)
        try:
            os.write(out, packet)
            stats["passed"] += 1
        except OSError:
            pass  # the device is down (a cut link): the packet is lost, like on a wire
