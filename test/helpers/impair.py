#!/usr/bin/env python3
"""A lossy, slow wire between two TUN devices, for tests on a kernel without netem.

    impair.py <tun-a> <tun-b> <loss 0..1> <delay-ms> [<rate bit/s>]

Every IP packet read from one device is written to the other after <delay-ms>, unless it is
dropped (probability <loss>). With a rate, each direction is also a bottleneck of that many bits
per second with a drop-tail queue of QUEUE_S seconds, as a congested Wi-Fi or a slow uplink is.
A line "rate <bit/s>" on stdin changes the rate (0: no limit), "loss <0..1>" the loss; a line "stats"
prints, as one line of JSON, what each device has sent into the wire so far and what of it the wire
dropped (packets and bytes, keyed by the device's name). Prints "ready" once both devices exist;
runs until killed.
"""
import fcntl, heapq, json, os, random, select, struct, sys, time

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


a_name, b_name, loss, delay = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]) / 1000
rate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
QUEUE_S = 0.1
a, b = tun(a_name), tun(b_name)
# A network's timing does not depend on its hosts' CPUs: the wire runs ahead of the browsers and
# servers it joins (real-time round robin as root, else the highest nice it may take), or a busy
# 2-core test machine adds queueing delay and jitter that the browsers' estimates read as congestion.
try:
    os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(10))
except OSError:
    try:
        os.nice(-19)
    except OSError:
        pass
# When each direction's bottleneck is free again (monotonic seconds).
free_at = {a: 0.0, b: 0.0}
stdin = sys.stdin.fileno()
os.set_blocking(stdin, False)
pending = b""
other = {a: b, b: a}
queue: list = []
seq = 0
name_of = {a: a_name, b: b_name}
# Per device: what it sent into the wire, and what of that the wire dropped.
stats = {name: {"packets": 0, "bytes": 0, "droppedPackets": 0, "droppedBytes": 0} for name in (a_name, b_name)}


def drop(way: dict, packet: bytes) -> None:
    way["droppedPackets"] += 1
    way["droppedBytes"] += len(packet)


print("ready", flush=True)
while True:
    timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else 1.0
    readable, _, _ = select.select([a, b] + ([stdin] if stdin >= 0 else []), [], [], timeout)
    now = time.monotonic()
    for fd in readable:
        if fd == stdin:
            chunk = os.read(stdin, 4096)
            if not chunk:
                os.set_blocking(stdin, True)  # stdin closed: stop watching it
                stdin = -1
                continue
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                words = line.split()
                if len(words) == 2 and words[0] == b"rate":
                    rate = float(words[1])
                elif len(words) == 2 and words[0] == b"loss":
                    loss = float(words[1])
                elif words == [b"stats"]:
                    print(json.dumps(stats), flush=True)
            continue
        packet = os.read(fd, 65535)
        way = stats[name_of[fd]]
        way["packets"] += 1
        way["bytes"] += len(packet)
        if random.random() < loss:
            drop(way, packet)
            continue
        at = now
        if rate > 0:
            start = max(now, free_at[fd])
            if start - now > QUEUE_S:
                drop(way, packet)  # the queue is full
                continue
            free_at[fd] = start + len(packet) * 8 / rate
            at = free_at[fd]
        seq += 1
        heapq.heappush(queue, (at + delay, seq, other[fd], packet))
    while queue and queue[0][0] <= time.monotonic():
        _, _, out, packet = heapq.heappop(queue)
        try:
            os.write(out, packet)
        except OSError:
            pass  # the device is down (a cut link): the packet is lost, like on a wire
