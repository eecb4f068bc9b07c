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


def dhcp_offer(chaddr: str) -> bytes:
    """A whole OFFER frame: a BOOTP reply with the magic cookie and a few options."""
    frame = bytearray(dhcp_reply(chaddr))
    options = bytes([53, 1, 2])  # message type: OFFER
    options += bytes([1, 4]) + socket.inet_aton("255.255.255.0")
    options += bytes([3, 4]) + socket.inet_aton("10.0.0.1")
    options += bytes([51, 4]) + struct.pack("!I", 3600)
    options += bytes([54, 4]) + socket.inet_aton("10.0.0.1")
    options += bytes([255])
    frame[14 + 20 + 8 + 16 : 14 + 20 + 8 + 20] = socket.inet_aton("10.0.0.42")  # yiaddr
    return bytes(frame) + b"\x63\x82\x53\x63" + options


def test_a_received_message_decodes_as_pyroute2_decodes_it() -> None:
    from pyroute2.dhcp.dhcp4socket import AsyncDHCP4Socket

    from devbox.adapters.net.dhcp_netns import NetnsDHCP4Socket

    ours = NetnsDHCP4Socket._decode_msg(dhcp_offer(MAC))
    theirs = AsyncDHCP4Socket._decode_msg(dhcp_offer(MAC))
    assert ours.dhcp["options"] == theirs.dhcp["options"]
    assert ours.dhcp["options"]["lease_time"] == 3600
    assert ours.dhcp["yiaddr"] == theirs.dhcp["yiaddr"] == "10.0.0.42"
    assert ours.dhcp["chaddr"] == theirs.dhcp["chaddr"]
    assert (ours.eth_src, ours.ip_src, ours.sport) == (theirs.eth_src, theirs.ip_src, theirs.sport)


def test_received_messages_share_their_option_maps() -> None:
    """pyroute2 builds two dicts of every DHCP option for each message it decodes, and a
    session keeps its lease's ACK for as long as it holds the lease: here they are the
    class's, one pair for every message."""
    from pyroute2.dhcp.dhcp4socket import AsyncDHCP4Socket

    from devbox.adapters.net.dhcp_netns import NetnsDHCP4Socket

    one = NetnsDHCP4Socket._decode_msg(dhcp_offer(MAC)).dhcp
    two = NetnsDHCP4Socket._decode_msg(dhcp_offer("02:42:ac:11:00:09")).dhcp
    assert one._decode_map is two._decode_map and one._encode_map is two._encode_map
    assert len(one._decode_map) > 20  # every option pyroute2 knows
    theirs = AsyncDHCP4Socket._decode_msg(dhcp_offer(MAC)).dhcp
    assert theirs._decode_map == one._decode_map and theirs._decode_map is not one._decode_map


def test_a_client_keeps_an_event_only_for_a_state_waited_for() -> None:
    """pyroute2's client kept an asyncio.Event for every state it had been in (six a lease,
    for as long as the service holds it); here only for a state something waits for (its
    own tasks wait for OFF), and that wait still ends when the state comes."""
    import asyncio

    from pyroute2.dhcp.client import ClientConfig
    from pyroute2.dhcp.fsm import State

    from devbox.adapters.net.dhcp_netns import NetnsDHCPClient

    async def go() -> tuple[int, bool, int]:
        config = ClientConfig(interface="lan0", timeouts={})
        client = NetnsDHCPClient(config, None, -1, MAC)  # type: ignore[arg-type]
        client.state = State.INIT
        off = asyncio.ensure_future(client.wait_for_state(State.OFF, timeout=10))
        await asyncio.sleep(0)  # waiting now
        for state in (State.SELECTING, State.REQUESTING, State.BOUND, State.RENEWING):
            client.state = state
        events = sum(isinstance(e, asyncio.Event) for e in client._states.values())
        waiting = not off.done()
        client.state = State.OFF
        await asyncio.wait_for(off, 10)
        now_off = asyncio.ensure_future(client.wait_for_state(State.OFF, timeout=10))
        await asyncio.wait_for(now_off, 10)  # in OFF already: at once
        return events, waiting, len(client._states)

    assert asyncio.run(go()) == (1, True, 1)  # OFF's alone
