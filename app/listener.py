"""The listening socket's last moment: the kernel stops taking new connections, cleanly.

At the end of a drain (app.uvicorn_internals) the listener is about to close. Closing it at once
would reset the connections the kernel has queued; a socket filter makes the kernel drop new
connection attempts first, so that what is queued can be accepted and answered, and a client that
comes later is refused, not reset.
"""

import ctypes
import os
import socket
import struct

# A classic BPF program for a listening socket, which sees each TCP segment from its TCP header:
# a new connection attempt (SYN without ACK) is dropped, every other segment goes through, so a
# handshake the kernel has already answered still completes and is queued, never left half-open.
REFUSE_SYN = b"".join(
    struct.pack("HBBI", code, jump_true, jump_false, k)
    for code, jump_true, jump_false, k in (
        (0x30, 0, 0, 13),  # BPF_LD | BPF_B | BPF_ABS: the byte of TCP flags
        (0x54, 0, 0, 0x12),  # BPF_ALU | BPF_AND | BPF_K: its SYN and ACK bits
        (0x15, 0, 1, 0x02),  # BPF_JMP | BPF_JEQ | BPF_K: SYN alone? next; else skip one
        (0x06, 0, 0, 0),  # BPF_RET | BPF_K: drop
        (0x06, 0, 0, 0xFFFFFFFF),  # BPF_RET | BPF_K: keep the whole segment
    )
)
SO_ATTACH_FILTER = 26  # Linux; not in Python's socket module


def refuse_new_connections(fd: int) -> bool:
    """Make the kernel drop new connection attempts to the listening socket `fd`; say if it does.

    Their clients send their SYN again a second later and find the port closed: refused, cleanly.
    Where the kernel refuses this process a socket filter (not Linux; some hardened kernels ask for
    CAP_NET_ADMIN, which the container does not have), the queue shrinks to one place instead, and
    a client that connects just as the listener closes may read a reset rather than a refusal.
    """
    # asyncio's socket wrapper has neither setsockopt for this nor listen(); a duplicate has.
    with socket.socket(fileno=os.dup(fd)) as sock:
        if attach_refuse_syn(sock):
            return True
        sock.listen(0)
        return False


def attach_refuse_syn(sock: socket.socket) -> bool:
    program = ctypes.create_string_buffer(REFUSE_SYN)
    try:
        sock.setsockopt(
            socket.SOL_SOCKET,
            SO_ATTACH_FILTER,
            struct.pack("HP", len(REFUSE_SYN) // 8, ctypes.addressof(program)),
        )
    except OSError:
        return False
    return True


def socket_filters_allowed() -> bool:
    """Whether this process may attach the drain's last filter (refuse_new_connections)."""
    with socket.socket() as probe:
        return attach_refuse_syn(probe)
