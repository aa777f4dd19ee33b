"""CBOR <-> JSON values for the test bed's CloudWatch translation (scripts/moto_serve.py).

The AWS SDK for Rust speaks CloudWatch's rpc-v2-cbor protocol; moto 5.2.5 only knows
CloudWatch's JSON 1.0 and query protocols. Only what those answers use is covered:
integers, floats, strings, byte strings, lists, maps, booleans, null, and timestamps
(tag 1, sent for keys ending in `Timestamp` or `LastModified`).
"""
import struct


def dec(b, i):
    """Decode the CBOR item at b[i]: (value, next index)."""
    mt, ai = b[i] >> 5, b[i] & 31; i += 1
    if mt == 7:
        if ai in (20, 21): return ai == 21, i
        if ai in (22, 23): return None, i
        f, n = {25: ('>e', 2), 26: ('>f', 4), 27: ('>d', 8)}[ai]; return struct.unpack(f, b[i:i+n])[0], i + n
    n = None
    if ai < 24: n = ai
    elif ai < 28: k = 1 << (ai - 24); n = int.from_bytes(b[i:i+k], 'big'); i += k
    if mt == 0: return n, i
    if mt == 1: return -1 - n, i
    if mt == 6: return dec(b, i)
    if mt in (2, 3) and n is not None: s = b[i:i+n]; return (s.decode() if mt == 3 else s), i + n
    out = [] if mt != 5 else {}
    count = 0
    while (b[i] != 0xff) if n is None else (count < n):
        v, i = dec(b, i); count += 1
        if mt == 5: w, i = dec(b, i); out[v] = w
        else: out.append(v)
    if n is None: i += 1
    if mt in (2, 3): out = ('' if mt == 3 else b'').join(out)
    return out, i
def head(mt, n):
    if n < 24: return bytes([mt << 5 | n])
    for ai, k in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * k): return bytes([mt << 5 | ai]) + n.to_bytes(k, 'big')
def enc(v, key=''):
    """Encode a JSON value as CBOR (`key` tells timestamps)."""
    if isinstance(v, bool): return b'\xf5' if v else b'\xf4'
    if v is None: return b'\xf6'
    if key.endswith(('Timestamp', 'LastModified')) and isinstance(v, (int, float)): return b'\xc1\xfb' + struct.pack('>d', v)
    if isinstance(v, int): return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float): return b'\xfb' + struct.pack('>d', v)
    if isinstance(v, str): e = v.encode(); return head(3, len(e)) + e
    if isinstance(v, list): return head(4, len(v)) + b''.join(enc(x, key) for x in v)
    return head(5, len(v)) + b''.join(enc(k) + enc(x, k) for k, x in v.items())


def decode(data: bytes):
    """One CBOR document as a JSON value."""
    return dec(data, 0)[0]


def encode(value) -> bytes:
    """A JSON value as one CBOR document."""
    return enc(value)
