"""Seeds the fuzz corpora from the golden vectors (conformance/vectors).

    python3 seed.py CORPUS_DIR

Writes CORPUS_DIR/<target>/<name> for every target, one file per vector
(valid and invalid ones alike); files already there (inputs the fuzzer
found) are kept. Standard library only.
"""

import json
import pathlib
import struct
import sys

VECTORS = pathlib.Path(__file__).resolve().parent.parent / "conformance" / "vectors"


def payloads(name):
    """(vector name, bytes) of every vector in vectors/<name>.json."""
    doc = json.loads((VECTORS / f"{name}.json").read_text())
    for group in ("vectors", "invalid"):
        for v in doc.get(group, []):
            for key in ("hex", "typed_hex", "canonical_hex"):
                if isinstance(v.get(key), str):
                    yield (
                        f"{name}-{group}-{v.get('name', 'x')}-{key}",
                        bytes.fromhex(v[key]),
                    )


def framed(b):
    return struct.pack(">I", len(b)) + b


def main():
    out = pathlib.Path(sys.argv[1])
    values = list(payloads("values"))
    requests = list(payloads("requests")) + list(payloads("replies"))
    handshake = list(payloads("handshake"))
    frames = list(payloads("frames"))
    # The frame reader's first byte picks its limit (0: handshake, 1: 4 MiB).
    frame_streams = [(n, bytes([1]) + b) for n, b in frames]
    frame_streams += [(n + "-hs", bytes([0]) + b) for n, b in frames]
    frame_streams += [(n, bytes([1]) + framed(b)) for n, b in values + requests]
    # A handshake input is a run of frames: every message, and the whole
    # valid conversation in order.
    conversation = b"".join(framed(b) for n, b in handshake if "-vectors-" in n)
    corpora = {
        "cbor_decode": values + requests + handshake,
        "frame_reader": frame_streams,
        "handshake": [(n, framed(b)) for n, b in handshake]
        + [("conversation", conversation)],
        "request_parse": requests,
        "py_convert": values + requests,
    }
    for target, items in corpora.items():
        d = out / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in items:
            (d / name.replace("/", "_")).write_bytes(data)


if __name__ == "__main__":
    main()
