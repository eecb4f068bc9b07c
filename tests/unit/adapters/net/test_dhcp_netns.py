"""The DHCP socket's BPF filter: only replies to this client's MAC get through (run here on a
small classic-BPF interpreter of the instructions it uses)."""

from __future__ import annotations

import socket
import struct

from devbox.adapters.net.dhcp_netns import listen_for

MAC = "02:42:ac:11:00:02"


def run_bpf(program: list[list[int]], packet: bytes) -> int:
    """What the kernel returns for ``packet`` (ancillary loads read 0: no VLAN tag)."""
    a = x = 0
    pc = 0
    for _ in range(len(program) + 1):
        code, jt, jf, k = program[pc]
        cls, size, mode = code & 0x07, code & 0x18, code & 0xE0
        if cls == 0x06:  # RET K
            return k
        if cls == 0x00:  # LD
            width = {0x00: 4, 0x08: 2, 0x10: 1}[size]
            off = k if mode == 0x20 else x + k
            if k < 0:
                a = 0
            elif off + width > len(packet):
                return 0
            else:
                a = int.from_bytes(packet[off : off + width], "big")
        elif cls == 0x01:  # LDX B MSH
            x = (packet[k] & 0x0F) * 4
        elif cls == 0x05:  # JMP
            op = code & 0xF0
            hit = (a == k) if op == 0x10 else bool(a & k)
            pc += jt if hit else jf
        pc += 1
    raise AssertionError("BPF program did not return")


def dhcp_reply(chaddr: str, dport: int = 68, ethertype: int = 0x0800, frag: int = 0) -> bytes:
    bootp = bytes([2, 1, 6, 0]) + b"\x00" * 24 + bytes(int(b, 16) for b in chaddr.split(":"))
    bootp += b"\x00" * (236 - len(bootp))
    udp = struct.pack("!HHHH", 67, dport, 8 + len(bootp), 0)
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp) + len(bootp),
        0,
        frag,
        64,
        socket.IPPROTO_UDP,
        0,
        socket.inet_aton("10.0.0.1"),
        socket.inet_aton("255.255.255.255"),
    )
    eth = b"\xff" * 6 + b"\x02" * 6 + struct.pack("!H", ethertype)
    return eth + ip + udp + bootp


def test_only_replies_to_this_client_pass() -> None:
    program = listen_for(MAC)
    assert run_bpf(program, dhcp_reply(MAC)) == 65535
    assert run_bpf(program, dhcp_reply("02:42:ac:11:00:03")) == 0  # another client's
    assert run_bpf(program, dhcp_reply("03:42:ac:11:00:02")) == 0
    assert run_bpf(program, dhcp_reply(MAC, dport=67)) == 0  # not to the client port
    assert run_bpf(program, dhcp_reply(MAC, ethertype=0x86DD)) == 0
    assert run_bpf(program, dhcp_reply(MAC, frag=0x0001)) == 0  # a later fragment


def test_every_jump_lands_inside_the_program() -> None:
    program = listen_for(MAC)
    for index, (code, jt, jf, _k) in enumerate(program):
        if code & 0x07 == 0x05:
            assert index + 1 + max(jt, jf) < len(program)
    assert program[-1] == [0x06, 0, 0, 0]  # the drop
