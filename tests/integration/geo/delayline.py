"""A userspace WAN delay line for the netns tests (run inside the router namespace).

The kernels the tests run on may lack ``sch_netem`` (tc netem), so the router
namespace sends every forwarded packet through a TUN device owned by this
process, which holds it for the one-way delay of its (source subnet,
destination subnet) pair and writes it back; policy routing then sends it out
of the right veth. Packets are only ever delayed, never early: like a real
path, the added delay is at least the configured one.

Usage: python delayline.py TUN_NAME MATRIX_JSON   (MATRIX: {"i,j": seconds})
Prints "ready" when the TUN device exists.
"""

from __future__ import annotations

import fcntl
import heapq
import json
import os
import struct
import sys
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def main() -> None:
    name, matrix_json = sys.argv[1], sys.argv[2]
    delays = {
        tuple(int(x) for x in k.split(",")): float(v) for k, v in json.loads(matrix_json).items()
    }
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    heap: list[tuple[float, int, bytes]] = []
    cond = threading.Condition()
    seq = 0

    def writer() -> None:
        while True:
            with cond:
                while not heap:
                    cond.wait()
                due, _, packet = heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    cond.wait(timeout=wait)
                    continue
                heapq.heappop(heap)
            os.write(fd, packet)

    threading.Thread(target=writer, daemon=True).start()
    print("ready", flush=True)
    while True:
        packet = os.read(fd, 65535)
        if len(packet) < 20 or packet[0] >> 4 != 4:
            continue  # IPv4 only
        src, dst = packet[14], packet[18]  # third octet of 10.77.X.Y = host index
        delay = delays.get((src, dst), 0.0)
        with cond:
            seq += 1
            heapq.heappush(heap, (time.monotonic() + delay, seq, packet))
            cond.notify()


if __name__ == "__main__":
    main()
