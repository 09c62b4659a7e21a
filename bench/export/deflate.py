#!/usr/bin/python3
# The compression floor of bench/run.sh export: the XML of a workbook that
# export_customers wrote, passed through the same zlib (Debian's libz, which
# libxlsxwriter's minizip calls) as minizip passes it: a CRC-32 and a raw
# deflate, in 64 kB pieces, at libxlsxwriter's level (zlib's default, 6) and
# at level 1.  Run with the system python, whose zlib module is that libz.
#
#   bench/export/deflate.py WORKBOOK.xlsx
#
# Prints "level|seconds|compressed bytes|uncompressed bytes", best of three.
import sys
import time
import zipfile
import zlib

PIECE = 65536


def deflate(parts, level):
    best = None
    for _ in range(3):
        out = 0
        start = time.perf_counter()
        for data in parts:
            crc = 0
            z = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY)
            for i in range(0, len(data), PIECE):
                piece = data[i:i + PIECE]
                crc = zlib.crc32(piece, crc)
                out += len(z.compress(piece))
            out += len(z.flush())
        seconds = time.perf_counter() - start
        if best is None or seconds < best[0]:
            best = (seconds, out)
    return best


def main():
    with zipfile.ZipFile(sys.argv[1]) as workbook:
        parts = [workbook.read(name) for name in workbook.namelist()]
    size = sum(len(p) for p in parts)
    for level in (zlib.Z_DEFAULT_COMPRESSION, 1):
        seconds, out = deflate(parts, level)
        print(f"{6 if level == zlib.Z_DEFAULT_COMPRESSION else level}|{seconds:.2f}|{out}|{size}")


if __name__ == "__main__":
    main()
