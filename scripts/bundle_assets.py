"""Vendor the HTML report's JS/CSS libraries from the npm packages pinned in web/.

``python scripts/bundle_assets.py`` runs ``npm ci`` in web/ and copies each library's published
dist file (and its LICENSE) into src/leaksleuth/report/assets/, writing manifest.json with
versions, lockfile integrity and sha256 of every copied file. The report inlines the assets in
manifest order, so the order below is the load order (d3 modules before what needs them).

``--check`` (CI) installs the lockfile's packages into a scratch directory and fails when the
vendored files or the manifest differ from what those packages give.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
ASSETS = ROOT / "src" / "leaksleuth" / "report" / "assets"

# (npm package, files under the package to vendor), in load order.
BUNDLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("internmap", ("dist/internmap.min.js",)),
    ("d3-array", ("dist/d3-array.min.js",)),
    ("d3-color", ("dist/d3-color.min.js",)),
    ("d3-interpolate", ("dist/d3-interpolate.min.js",)),
    ("d3-format", ("dist/d3-format.min.js",)),
    ("d3-time", ("dist/d3-time.min.js",)),
    ("d3-time-format", ("dist/d3-time-format.min.js",)),
    ("d3-scale", ("dist/d3-scale.min.js",)),
    ("d3-dispatch", ("dist/d3-dispatch.min.js",)),
    ("d3-selection", ("dist/d3-selection.min.js",)),
    ("d3-timer", ("dist/d3-timer.min.js",)),
    ("d3-ease", ("dist/d3-ease.min.js",)),
    ("d3-transition", ("dist/d3-transition.min.js",)),
    ("d3-hierarchy", ("dist/d3-hierarchy.min.js",)),
    ("d3-flame-graph", ("dist/d3-flamegraph.umd.min.js", "dist/d3-flamegraph.css")),
    ("uplot", ("dist/uPlot.iife.min.js", "dist/uPlot.min.css")),
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_ci(web_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("bundle_assets: npm not found (install Node.js 18+)")
    res = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                         cwd=web_dir, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        sys.exit(f"bundle_assets: npm ci failed:\n{res.stderr[-2000:]}")


def build(modules: Path) -> tuple[dict[str, bytes], dict[str, object]]:
    """The files to vendor (name -> bytes) and the manifest describing them."""
    lock = json.loads((WEB / "package-lock.json").read_text())["packages"]
    files: dict[str, bytes] = {}
    packages: list[dict[str, object]] = []
    for name, paths in BUNDLE:
        pkg_dir = modules / name
        meta = json.loads((pkg_dir / "package.json").read_text())
        locked = lock.get(f"node_modules/{name}", {})
        if meta["version"] != locked.get("version"):
            sys.exit(f"bundle_assets: {name} {meta['version']} is not the lockfile's version")
        entries = []
        for rel in paths:
            data = (pkg_dir / rel).read_bytes()
            dest = f"{name}/{Path(rel).name}"
            files[dest] = data
            entries.append({"file": dest, "from": rel, "sha256": sha256(data)})
        license_data = (pkg_dir / "LICENSE").read_bytes()
        files[f"{name}/LICENSE"] = license_data
        packages.append({
            "name": name,
            "version": meta["version"],
            "license": meta.get("license", ""),
            "integrity": locked.get("integrity", ""),
            "files": entries,
            "license_file": f"{name}/LICENSE",
            "license_sha256": sha256(license_data),
        })
    manifest = {"generated_by": "scripts/bundle_assets.py", "packages": packages}
    files["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
    return files, manifest


def write(files: dict[str, bytes]) -> None:
    if ASSETS.exists():
        shutil.rmtree(ASSETS)
    for rel, data in files.items():
        out = ASSETS / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)


def check(files: dict[str, bytes]) -> list[str]:
    problems = []
    for rel, data in files.items():
        p = ASSETS / rel
        if not p.exists():
            problems.append(f"missing {p.relative_to(ROOT)}")
        elif p.read_bytes() != data:
            problems.append(f"differs from the lockfile's package: {p.relative_to(ROOT)}")
    vendored = {p.relative_to(ASSETS).as_posix() for p in ASSETS.rglob("*") if p.is_file()}
    problems += [f"not from the lockfile: {rel}" for rel in sorted(vendored - set(files))]
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="verify the vendored assets equal the lockfile's packages")
    args = ap.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            for f in ("package.json", "package-lock.json"):
                shutil.copy(WEB / f, Path(tmp) / f)
            npm_ci(Path(tmp))
            files, _ = build(Path(tmp) / "node_modules")
        problems = check(files)
        for p in problems:
            print(f"bundle_assets: {p}", file=sys.stderr)
        if problems:
            print("bundle_assets: run `python scripts/bundle_assets.py` to refresh",
                  file=sys.stderr)
            return 1
        print(f"bundle_assets: {len(files)} vendored files match web/package-lock.json")
        return 0
    npm_ci(WEB)
    files, manifest = build(WEB / "node_modules")
    write(files)
    pkgs = manifest["packages"]
    assert isinstance(pkgs, list)
    total = sum(len(d) for d in files.values())
    print(f"bundle_assets: vendored {len(pkgs)} packages, {len(files)} files, {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
