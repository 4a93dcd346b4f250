"""What ``ukscp boot`` pays to prove a firmware slot's origin before it runs it.

A slot holding the whole ukscp package (``package_wheel`` of tests/firmware_support.py:
every file of the installed package, at a higher version), installed with the
installer's own calls and signed by a manufacturer signing certificate (ECDSA
P-256, and RSA-2048 for the signature row) issued by a root written to a file
outside the data directory, as ``updates.firmware_root_ca_file`` is.

1. The launcher's whole check (``Launcher.prepare``: the recorded digests, then
   the origin: root read, chain, signature over the wheel, METADATA, RECORD
   against every file of ``site/``), and its parts: the recorded-digest check
   alone (what the launcher did before), the origin alone, and the chain and
   signature alone (``check_origin``). Medians of N runs, warm page cache.
2. The child's bytecode: slots hold no ``.pyc`` (the wheel signs none), so a
   slot's first start in a launcher compiles what it imports into the
   launcher's own cache. ``import ukscp.app, ukscp.cli`` from the slot in a
   fresh interpreter with an empty cache, then with the cache the first run
   filled (what a restart inside the same launcher sees). Medians of N runs.

    .venv/bin/python benchmarks/firmware_boot.py [--runs 15]

Writes ``benchmarks/results/firmware_boot.md``.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import io
import os
import platform
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ukscp
from tests.firmware_support import (
    NOW,
    install_slot,
    make_root,
    make_signer,
    package_wheel,
    sign,
    write_root,
)
from ukscp.clock import VirtualClock
from ukscp.firmware.boot import judge_origin
from ukscp.firmware.launcher import ChildCommand, Launcher
from ukscp.firmware.signing import check_origin
from ukscp.firmware.slots import FirmwareSlots

OUT = Path(__file__).parent / "results" / "firmware_boot.md"


def _median_ms(fn: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    fn()  # warm-up: page cache, imports
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), times


def _import_ms(site: Path, flags: list[str]) -> float:
    # A charger's service has no PYTHONDONTWRITEBYTECODE (this machine's shell sets it).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(site)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-P", *flags, "-c", "import ukscp.app, ukscp.cli"], check=True, env=env
    )
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    version = "99.0.0"
    root = make_root()
    signer = make_signer(root)
    rsa_signer = make_signer(root, "rsa")
    wheel = package_wheel(version)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root_file = write_root(base / "firmware-root.pem", root)
        slots = FirmwareSlots(base / "data")
        pointer = install_slot(slots, wheel, version, signer=signer, installed_at=NOW)
        site = slots.site_dir(pointer.slot)
        files = sum(1 for p in site.rglob("*") if p.is_file())
        unpacked = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        launcher = Launcher(
            slots=slots,
            seclog_path=base / "seclog.sqlite3",
            clock=VirtualClock(start=NOW),
            command=ChildCommand(sys.executable, [], {}, 3),
            installed_version=ukscp.__version__,
            out=io.StringIO(),
            root_ca_file=root_file,
        )

        def whole() -> None:
            plan = launcher.prepare()
            assert plan.run is not None and not plan.fallbacks, plan

        def origin_only() -> None:
            problems = judge_origin(
                slots.evidence(pointer),
                [root.certificate],
                now=NOW,
                installed_version=ukscp.__version__,
            )
            assert problems == [], problems

        digest = hashlib.sha256(wheel).digest()
        ec_sig, rsa_sig = sign(signer, wheel), sign(rsa_signer, wheel)

        def chain_ec() -> None:
            assert check_origin(signer.pem, ec_sig, digest, [root.certificate], NOW).ok

        def chain_rsa() -> None:
            assert check_origin(rsa_signer.pem, rsa_sig, digest, [root.certificate], NOW).ok

        rows = [
            ("whole boot check (`Launcher.prepare`)", *_median_ms(whole, runs)),
            (
                "recorded digests only (`FirmwareSlots.verify`, the check before)",
                *_median_ms(lambda: slots.verify(pointer), runs),
            ),
            ("origin only (`evidence` + `judge_origin`)", *_median_ms(origin_only, runs)),
            ("chain + signature only (`check_origin`, ECDSA P-256)", *_median_ms(chain_ec, runs)),
            ("chain + signature only (`check_origin`, RSA-2048 PSS)", *_median_ms(chain_rsa, runs)),
        ]

        # Before: the install byte-compiled the slot (PEP 552 checked-hash .pyc), -B.
        before_site = base / "before" / "site"
        shutil.copytree(site, before_site)
        compileall.compile_dir(
            before_site, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        )
        _import_ms(before_site, ["-B"])  # warm-up
        before = [_import_ms(before_site, ["-B"]) for _ in range(runs)]
        cold, warm = [], []
        for _ in range(runs):
            cache = Path(tempfile.mkdtemp(prefix="bench-bytecode-"))
            try:
                cold.append(_import_ms(site, ["-X", f"pycache_prefix={cache}"]))
                warm.append(_import_ms(site, ["-X", f"pycache_prefix={cache}"]))
            finally:
                shutil.rmtree(cache)

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        machine = f"{model}, " + machine
    except (OSError, StopIteration):
        pass
    lines = [
        "# `ukscp boot`: proving a firmware slot's origin",
        "",
        f"Measured {datetime.now(UTC).date().isoformat()} by"
        f" `benchmarks/firmware_boot.py --runs {runs}`.",
        f"Machine: {machine}. Data directory in a temporary directory on the machine's disk.",
        "",
        f"The slot: the whole ukscp package as a signed wheel ({len(wheel):,} bytes),"
        f" unpacked to {files} files ({unpacked:,} bytes). Warm page cache; one warm-up run"
        " first; median in bold.",
        "",
        "## The launcher's check, before each start of a slot",
        "",
        "| what | median (ms) | runs (ms) |",
        "|---|---|---|",
    ]
    for name, median, times in rows:
        lines.append(f"| {name} | **{median:.1f}** | {' / '.join(f'{t:.1f}' for t in times)} |")
    extra = rows[0][1] - rows[1][1]
    lines += [
        "",
        f"**The origin proof adds {extra:.1f} ms to a boot (whole check {rows[0][1]:.1f} ms"
        f" against {rows[1][1]:.1f} ms for the recorded digests alone).**"
        " Most of it is reading and hashing the slot again (the wheel, every file"
        " against RECORD); the chain and signature are a small part.",
        "",
        "## The child's bytecode, now that slots hold none",
        "",
        "`import ukscp.app, ukscp.cli` from the slot in a fresh interpreter"
        " (`python -P -X pycache_prefix=<cache>`, as the launcher starts a slot), process"
        " start included, `PYTHONDONTWRITEBYTECODE` unset as in a charger's service.",
        "",
        "| cache | median (ms) | runs (ms) |",
        "|---|---|---|",
        f"| before this change: checked-hash `.pyc` in the slot, `-B` |"
        f" **{statistics.median(before):.0f}** | {' / '.join(f'{t:.0f}' for t in before)} |",
        f"| empty (a slot's first start in a launcher) | **{statistics.median(cold):.0f}** |"
        f" {' / '.join(f'{t:.0f}' for t in cold)} |",
        f"| filled by the first start (a restart, exit code 3) | **{statistics.median(warm):.0f}**"
        f" | {' / '.join(f'{t:.0f}' for t in warm)} |",
        "",
        f"**A slot's first start in a launcher takes"
        f" {statistics.median(cold) - statistics.median(before):.0f} ms more than before"
        " (the cache prefix covers every module imported, the standard library and the"
        " dependencies too, so all of it is compiled once); restarts inside the same launcher"
        f" reuse the cache ({statistics.median(warm) - statistics.median(before):+.0f} ms"
        " against before).** The cost of not trusting bytecode from the data directory: a"
        " checked-hash `.pyc` runs whatever code it holds once its header matches the source,"
        " and the wheel signs none.",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
