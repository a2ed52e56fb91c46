#!/usr/bin/env python3
"""Refresh the vendored front-end libraries from the npm registry.

Reads src/leadflow/web/static/vendor/vendor.json ({name: {"version": ..., "files": {path in package: file name}}}),
fetches each pinned package with `npm pack`, and copies the listed files to static/vendor/<name>/. Run it after
changing a version; commit the result. Nothing is fetched at run time.
"""

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent.parent / "src" / "leadflow" / "web" / "static" / "vendor"


def refresh(name: str, version: str, files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        packed = (
            subprocess.run(
                ["npm", "pack", f"{name}@{version}", "--silent"], cwd=tmp, check=True, capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        with tarfile.open(Path(tmp) / packed) as archive:
            archive.extractall(tmp, filter="data")
        target = VENDOR_DIR / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for source, dest in files.items():
            shutil.copyfile(Path(tmp) / "package" / source, target / dest)
        (target / "VERSION").write_text(f"{name}@{version}\n")
    print(f"{name}@{version}: {', '.join(files.values())}")


def main() -> int:
    manifest = json.loads((VENDOR_DIR / "vendor.json").read_text())
    for name, spec in manifest.items():
        refresh(name, spec["version"], spec["files"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
