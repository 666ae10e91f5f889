#!/usr/bin/env python3
"""Extracts the native files of a wheel (a zip) into OUT, for scripts/fetch-{mkl,onednn}.sh.

    scripts/wheel-data.py WHEEL OUT [LIBRARY ...]

A wheel keeps them under `<name>.data/data/{include,lib}/`. Every header is kept; of `lib/`, only
the files named (a wheel stores a library's symlinks as full copies, so name only the ones needed).
Paths below `include/` and `lib/` are kept, so OUT gets `include/...` and `lib/...`.
"""
import os
import sys
import zipfile


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    whl, out, keep = sys.argv[1], sys.argv[2], set(sys.argv[3:])
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            parts = info.filename.split("/")
            if info.is_dir() or len(parts) < 4 or parts[1] != "data" or parts[2] not in ("include", "lib"):
                continue
            if parts[2] == "lib" and parts[-1] not in keep:
                continue
            dest = os.path.join(out, *parts[2:])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(info) as src, open(dest, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)


if __name__ == "__main__":
    main()
