"""Shrink the compiled modules of a virtual environment, in the image's builder stage.

`python strip_debug.py DIR...` cuts each 64-bit ELF shared object (`*.so`) under DIR after the end
of its last segment: that drops the debug information, the static symbol table and the section
headers, which the dynamic loader never reads ("sstrip"). Some wheels ship unstripped: uvloop's
module is 16 MB with its debug information and about 1.6 MB without. Standard library only, as the
builder has no binutils (and installs no system package to get them).
"""

import struct
import sys
from pathlib import Path


def strip(path: Path) -> int:
    """Cut `path` after its last segment; return the bytes removed (0 if not a 64-bit ELF)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return 0
    order = "<" if data[5] == 1 else ">"
    (phoff,) = struct.unpack_from(order + "Q", data, 0x20)
    phentsize, phnum = struct.unpack_from(order + "HH", data, 0x36)
    end: int = phoff + phentsize * phnum
    for index in range(phnum):
        # p_offset and p_filesz of each program header (segment)
        offset, _, _, filesz = struct.unpack_from(
            order + "QQQQ", data, phoff + index * phentsize + 8
        )
        end = max(end, offset + filesz)
    if end >= len(data):
        return 0
    kept = bytearray(data[:end])
    struct.pack_into(order + "Q", kept, 0x28, 0)  # e_shoff: no section header table
    struct.pack_into(order + "HHH", kept, 0x3A, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    path.write_bytes(kept)
    return len(data) - end


if __name__ == "__main__":
    removed = sum(strip(path) for root in sys.argv[1:] for path in Path(root).rglob("*.so"))
    print(f"strip_debug: {removed / 1e6:.1f} MB removed")
