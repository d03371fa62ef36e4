"""Rebuild the field benchmark's data folder from its manifest (needs internet; never run by tests).

    python experiments/field/fetch.py                      # -> /work/field-data
    python experiments/field/fetch.py --out DIR [--only ID ...]

Each entry of ``captures.json`` names a capture by ``repo``, ``commit`` and ``path``; this
downloads https://raw.githubusercontent.com/<repo>/<commit>/<path>, checks its sha256 against
the manifest and writes it to ``<out>/<file>``. A file already there with the right sha256 is
kept. Standard library only, so it runs before the project is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAW = "https://raw.githubusercontent.com"


def entries(manifest: Path) -> list[dict]:
    body = json.loads(manifest.read_text(encoding="utf-8"))
    return body["captures"] if isinstance(body, dict) else body


def source_url(entry: dict) -> str:
    # Paths hold spaces ("Lateral Movement/...") and parentheses: quote each segment.
    return f"{RAW}/{entry['repo']}/{entry['commit']}/{urllib.parse.quote(entry['path'])}"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_one(entry: dict, out: Path, timeout: float) -> str:
    """'kept', 'fetched', or one line saying what went wrong."""
    dest = out / entry["file"]
    if dest.is_file() and digest(dest.read_bytes()) == entry["sha256"]:
        return "kept"
    try:
        with urllib.request.urlopen(source_url(entry), timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        return f"download failed ({e})"
    if digest(data) != entry["sha256"]:
        return (f"sha256 mismatch ({len(data)} bytes; a Git LFS pointer or a changed file?): "
                "not written")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, dest)  # never leave a half-written capture under its real name
    return "fetched"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=HERE / "captures.json")
    parser.add_argument("--out", type=Path, default=Path("/work/field-data"),
                        help="data folder to (re)build (default: /work/field-data)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="fetch only these entry ids")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per download")
    args = parser.parse_args(argv)
    try:
        todo = entries(args.manifest)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"fetch: {args.manifest}: not a readable manifest ({e})", file=sys.stderr)
        return 2
    if args.only:
        unknown = set(args.only) - {e["id"] for e in todo}
        if unknown:
            print(f"fetch: no entry with id {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        todo = [e for e in todo if e["id"] in args.only]
    failed = 0
    for entry in todo:
        status = fetch_one(entry, args.out, args.timeout)
        failed += status not in ("kept", "fetched")
        print(f"{entry['id']}: {status}", file=sys.stderr if status not in ("kept", "fetched")
              else sys.stdout)
    print(f"{len(todo) - failed} of {len(todo)} captures in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
