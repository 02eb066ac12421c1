"""Reproducible builds of the embedded FerretDB (infra/ferretdb/main.go), with or without the project's patches.

FerretDB v1.24.2 on SQLite ignores its own _id index, pushes almost no filter down and loses concurrent
updates; infra/ferretdb/patches/NNNN-*.patch fix that (each patch's header says what and why). The patches
are unified diffs against the module root of github.com/FerretDB/FerretDB v1.24.2, applied in file-name
order to a vendored copy of the module in a scratch directory, so the Go module cache is never modified:

    copy main.go, go.mod, go.sum   ->  <build root>/ferretdb-<stamp>/
    go mod vendor                      (CGO_ENABLED=0; module cache, else the module proxy)
    patch -p1 ... -d vendor/github.com/FerretDB/FerretDB -i NNNN-*.patch
    go build -mod=vendor -trimpath -o <output>

`-trimpath` keeps the compiled packages' cache keys independent of the scratch directory, so rebuilding after
a patch change only recompiles what the patches touch. The unpatched build (patched=False) exists for the
benchmarks and for showing that the tests catch each defect.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
FERRETDB_SRC = REPO_ROOT / "infra" / "ferretdb"
PATCH_DIR = FERRETDB_SRC / "patches"
SOURCES = ("main.go", "go.mod", "go.sum")
# where `go mod vendor` puts the module that the patches apply to
VENDORED_MODULE = Path("vendor") / "github.com" / "FerretDB" / "FerretDB"
UPSTREAM_BINARY_NAME = "ferretdb-upstream"


class FerretDBBuildError(RuntimeError):
    """A tool is missing, `go` failed, or a patch did not apply; the message says which and where the log is."""


def _default_local_dir() -> Path:
    # the same rule as infra.local.paths.LOCAL_DIR, without importing it (it is set the same way)
    return Path(os.environ.get("MIGRADESK_LOCAL_DIR", REPO_ROOT / ".local"))


def patch_files() -> list[Path]:
    """The patches, in the order they are applied."""
    return sorted(PATCH_DIR.glob("*.patch"), key=lambda p: p.name)


def ferretdb_stamp(*, patched: bool = True) -> str:
    """SHA-256 over everything that determines the binary: the Go sources, the patches and the `patched` flag.

    The unpatched build does not depend on the patches, so editing a patch does not rebuild it."""
    sha = hashlib.sha256()
    sha.update(f"patched={patched}\n".encode())
    inputs = [(name, FERRETDB_SRC / name) for name in SOURCES]
    if patched:
        inputs += [(f"patches/{path.name}", path) for path in patch_files()]
    for label, path in inputs:
        # names too, so that renaming (reordering) patches changes the stamp
        data = path.read_bytes()
        sha.update(f"{label}\n{len(data)}\n".encode())
        sha.update(data)
    return sha.hexdigest()


def _tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FerretDBBuildError(f"`{name}` is not on PATH; it is needed to {why}.")
    return path


def _run(cmd: Sequence[str], *, cwd: Path, env: dict[str, str], log_path: Path, what: str) -> None:
    with log_path.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}    # in {cwd}\n".encode())
        out.flush()
        result = subprocess.run(list(cmd), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise FerretDBBuildError(f"{what} failed (exit code {result.returncode}); build directory {cwd} kept, "
                                 f"log {log_path}:\n{tail}")


def build_ferretdb(output: Path, *, patched: bool = True, log_dir: Path, build_root: Path | None = None) -> Path:
    """Build infra/ferretdb into `output` (replaced atomically), with the patches applied unless patched=False.

    Always builds; see ensure_ferretdb for the stamp-based reuse. The scratch directory is removed after a
    successful build and kept after a failed one."""
    go = _tool("go", "build FerretDB, the MongoDB-compatible store (Go 1.24 or newer)")
    patch = _tool("patch", "apply infra/ferretdb/patches to FerretDB's source") if patched else ""
    stamp = ferretdb_stamp(patched=patched)
    build_dir = (build_root or _default_local_dir() / "build") / f"ferretdb-{stamp[:16]}"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / ("ferretdb-build.log" if patched else f"{UPSTREAM_BINARY_NAME}-build.log")

    shutil.rmtree(build_dir, ignore_errors=True)  # a half-finished earlier attempt
    build_dir.mkdir(parents=True)
    for name in SOURCES:
        shutil.copyfile(FERRETDB_SRC / name, build_dir / name)
    env = {**os.environ, "CGO_ENABLED": "0"}
    _run([go, "mod", "vendor"], cwd=build_dir, env=env, log_path=log_path, what="`go mod vendor`")

    if patched:
        module_dir = build_dir / VENDORED_MODULE
        if not module_dir.is_dir():
            raise FerretDBBuildError(f"`go mod vendor` did not produce {VENDORED_MODULE} in {build_dir}")
        for patch_file in patch_files():
            # --fuzz=0: the patches are made against exactly the pinned version; anything else is a mistake
            _run([patch, "-p1", "--forward", "--batch", "--fuzz=0", "-d", str(module_dir), "-i", str(patch_file)],
                 cwd=build_dir, env=env, log_path=log_path,
                 what=f"applying patch {patch_file.name} ({patch_file.parent}) to FerretDB's vendored source")

    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    _run([go, "build", "-mod=vendor", "-trimpath", "-o", str(partial), "."], cwd=build_dir, env=env,
         log_path=log_path, what="`go build` of FerretDB" + (" (patched)" if patched else " (unpatched)"))
    # a running server keeps its old inode; new starts get the new binary
    partial.replace(output)
    shutil.rmtree(build_dir, ignore_errors=True)
    return output


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    # two processes (a test run and a benchmark) must not build into the same output at once
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_ferretdb(output: Path, *, patched: bool = True, log_dir: Path, build_root: Path | None = None) -> Path:
    """`output`, rebuilt only when its stamp file (`<output>.sha256`) differs from ferretdb_stamp(patched)."""
    stamp_path = output.with_name(output.name + ".sha256")
    wanted = ferretdb_stamp(patched=patched)
    with _exclusive(output.with_name(output.name + ".lock")):
        if output.exists() and stamp_path.exists() and stamp_path.read_text() == wanted:
            return output
        build_ferretdb(output, patched=patched, log_dir=log_dir, build_root=build_root)
        stamp_path.write_text(wanted)
    return output


def ensure_upstream_ferretdb(local_dir: Path | None = None) -> Path:
    """The unpatched FerretDB at <local dir>/bin/ferretdb-upstream, for benchmarks and negative checks."""
    local = local_dir or _default_local_dir()
    return ensure_ferretdb(local / "bin" / UPSTREAM_BINARY_NAME, patched=False, log_dir=local / "logs",
                           build_root=local / "build")
