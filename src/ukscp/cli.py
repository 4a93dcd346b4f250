"""The ``ukscp`` command line."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

import ukscp
from ukscp.app import RESTART_EXIT_CODE, build_app
from ukscp.clock import RealClock
from ukscp.config import ConfigError, Settings, load_config
from ukscp.files import OWNER_ONLY_UMASK
from ukscp.firmware.launcher import DEFAULT_READY_TIMEOUT_S, READY_MARKER, ChildCommand, Launcher
from ukscp.firmware.slots import FirmwareSlots
from ukscp.security.credentials import ACCOUNTS_FILE, OwnerAccounts, SetupCodeFile
from ukscp.security.integrity import (
    RELEASE_MANIFEST,
    IntegrityError,
    check,
    generate_keypair,
    package_root,
    release_manifest,
    sign_release,
)
from ukscp.security.seclog import SECLOG_FILE, SecurityLog, verify_file
from ukscp.storage import kept_aside
from ukscp.web.server import ServeError

cli = typer.Typer(
    help="ukscp: a UK smart charge point (Smart Charge Points Regulations 2021).",
    no_args_is_help=True,
    add_completion=False,
)

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="YAML configuration file; defaults apply without one."),
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Directory for the charger's state.")
]


def _settings(config: Path | None, data_dir: Path | None, **overrides: object) -> Settings:
    """Load the configuration and apply command-line overrides, or exit with the reason."""
    try:
        settings = load_config(config)
    except ConfigError as exc:
        typer.echo(f"ukscp: {exc}", err=True)
        raise typer.Exit(2) from None
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    web = {k: v for k, v in overrides.items() if k in ("host", "port") and v is not None}
    if overrides.get("insecure_http"):
        web["insecure_http"] = True
    if web:
        settings = settings.model_copy(update={"web": settings.web.model_copy(update=web)})
    if overrides.get("sim_plug"):
        hardware = settings.hardware.model_copy(update={"sim_plug_at_start": True})
        settings = settings.model_copy(update={"hardware": hardware})
    return settings


@cli.callback()
def _root() -> None:
    """ukscp: a UK smart charge point (Smart Charge Points Regulations 2021)."""


@cli.command()
def run(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.", min=1, max=65535)] = None,
    sim_plug: Annotated[
        bool, typer.Option("--sim-plug", help="Plug the simulated EV in just after start.")
    ] = False,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http", help="Lab only: plain HTTP instead of HTTPS (a security event)."
        ),
    ] = False,
) -> None:
    """Start the charger. SIGTERM or Ctrl-C stops it cleanly."""
    settings = _settings(
        config, data_dir, host=host, port=port, sim_plug=sim_plug, insecure_http=insecure_http
    )
    os.umask(OWNER_ONLY_UMASK)  # what the charger makes is its own: no reading by other users
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT)
    try:
        code = asyncio.run(_serve(settings))
    except (ConfigError, ServeError) as exc:
        typer.echo(f"ukscp: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@cli.command()
def boot(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.", min=1, max=65535)] = None,
    sim_plug: Annotated[
        bool, typer.Option("--sim-plug", help="Plug the simulated EV in just after start.")
    ] = False,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http", help="Lab only: plain HTTP instead of HTTPS (a security event)."
        ),
    ] = False,
    ready_timeout: Annotated[
        float,
        typer.Option(
            "--ready-timeout",
            min=1,
            help="Seconds a newly installed firmware has to become ready before a fallback.",
        ),
    ] = DEFAULT_READY_TIMEOUT_S,
) -> None:
    """Run the charger from the active firmware slot, for a service manager.

    Takes ``run``'s options. Checks the slot (and that it is what the manufacturer
    root of ``updates.firmware_root_ca_file`` signed), runs ``ukscp run`` from it,
    starts it again when it asks to restart (exit code 3), and falls back to the
    previous firmware if the slot fails its check or a new firmware fails to start.
    """
    settings = _settings(
        config, data_dir, host=host, port=port, sim_plug=sim_plug, insecure_http=insecure_http
    )
    os.umask(OWNER_ONLY_UMASK)  # what the charger makes is its own: no reading by other users
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT)
    run_args: list[str] = []
    for option, value in (("--config", config), ("--data-dir", data_dir), ("--host", host)):
        if value is not None:
            run_args += [option, str(value)]
    if port is not None:
        run_args += ["--port", str(port)]
    flags = {"--sim-plug": sim_plug, "--insecure-http": insecure_http}
    run_args += [flag for flag, on in flags.items() if on]
    launcher = Launcher(
        slots=FirmwareSlots(settings.data_dir),
        seclog_path=settings.data_dir / SECLOG_FILE,
        clock=RealClock(),
        command=ChildCommand(
            python=sys.executable,
            run_args=run_args,
            env=dict(os.environ),
            restart_code=RESTART_EXIT_CODE,
            ready_timeout_s=ready_timeout,
        ),
        installed_version=ukscp.__version__,
        out=sys.stdout,
        root_ca_file=settings.updates.firmware_root_ca_file,  # what a slot must be signed to
    )
    raise typer.Exit(launcher.run())


@cli.command("setup-code")
def setup_code(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Print the one-time setup code (console access is physical access), or say setup is done."""
    settings = _settings(config, data_dir)
    code = SetupCodeFile(settings.data_dir).ensure()
    if code is None:
        typer.echo("setup is done: log in with the owner's password")
    else:
        typer.echo(code)


owner_cli = typer.Typer(
    help="The owner's account, from the console (console access is physical access).",
    no_args_is_help=True,
)
cli.add_typer(owner_cli, name="owner")


@owner_cli.command("unlock")
def owner_unlock(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Clear every login lockout and slow-down: the owner's way back in (security-logged).

    Works while the charger runs; sessions and passwords are not touched.
    """
    settings = _settings(config, data_dir)
    path = settings.data_dir / ACCOUNTS_FILE
    if not path.exists():
        typer.echo(f"ukscp: no owner account in {settings.data_dir}", err=True)
        raise typer.Exit(2)
    clock = RealClock()
    seclog = SecurityLog(settings.data_dir / SECLOG_FILE, clock)
    accounts = OwnerAccounts(path, clock, seclog=seclog)
    try:
        cleared = accounts.clear_lockouts()
    finally:
        accounts.close()
        seclog.close()
    counters = "1 counter" if cleared == 1 else f"{cleared} counters"
    typer.echo(f"login lockouts cleared ({counters}): the owner can log in again")


seclog_cli = typer.Typer(help="The tamper-evident security log.", no_args_is_help=True)
cli.add_typer(seclog_cli, name="seclog")


@seclog_cli.command("verify")
def seclog_verify(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Check the security log's hash chain; name the first broken record."""
    settings = _settings(config, data_dir)
    path = settings.data_dir / SECLOG_FILE
    if not path.exists():
        typer.echo(f"ukscp: no security log at {path}", err=True)
        raise typer.Exit(2)
    check = verify_file(path)
    kept = kept_aside(path)
    if kept:
        names = ", ".join(file.name for file in kept)
        typer.echo(f"note: damaged security logs kept aside (not verified here): {names}")
    if check.ok:
        typer.echo(f"security log intact: {check.checked} records verified")
        return
    typer.echo(
        f"security log BROKEN at record {check.first_broken_id}: {check.reason} "
        f"({check.checked} records checked)",
        err=True,
    )
    raise typer.Exit(1)


release_cli = typer.Typer(help="Signing releases (the manufacturer's side).", no_args_is_help=True)
cli.add_typer(release_cli, name="release")
integrity_cli = typer.Typer(help="Checking the installed software.", no_args_is_help=True)
cli.add_typer(integrity_cli, name="integrity")


@release_cli.command("keygen")
def release_keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory for release.key and release.pub.")],
) -> None:
    """Make an Ed25519 release key pair (the private key is written 0600)."""
    try:
        key, pub = generate_keypair(out)
    except IntegrityError as exc:
        typer.echo(f"ukscp: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"private key: {key}\npublic key:  {pub} (give this one to the chargers)")


@release_cli.command("sign")
def release_sign(
    key: Annotated[Path, typer.Option("--key", help="The Ed25519 private release key (PEM).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed manifest.")],
) -> None:
    """Sign a manifest of every file of the installed ukscp package.

    To ship the manifest inside a release (firmware for the CSMS to install),
    write it to ``release-manifest.json`` at the top of the package before
    building the wheel: it is not listed in itself.
    """
    try:
        count = sign_release(package_root(), key, out, ukscp.__version__)
    except IntegrityError as exc:
        typer.echo(f"ukscp: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"signed {count} files of ukscp {ukscp.__version__} into {out}")


@integrity_cli.command("check")
def integrity_check(config: ConfigOption = None, data_dir: DataDirOption = None) -> None:
    """Verify the installed files against the package's own signed manifest, else the config's."""
    settings = _settings(config, data_dir)
    manifest = release_manifest(package_root(), settings.integrity.manifest_file)
    public_key = settings.integrity.public_key_file
    if manifest is None or public_key is None:
        typer.echo(
            "ukscp: integrity.public_key_file and a manifest (integrity.manifest_file, or the "
            f"package's own {RELEASE_MANIFEST}) are needed",
            err=True,
        )
        raise typer.Exit(2)
    report = check(package_root(), manifest, public_key, RealClock().now())
    if report.ok:
        typer.echo(report.summary())
        return
    typer.echo(report.summary(), err=True)
    raise typer.Exit(1)


async def _serve(settings: Settings) -> int:
    app = build_app(settings, RealClock())
    code = app.accounts.prepare_setup(app.setup_codes)
    if code is not None:
        print(
            f"ukscp: first start: set the owner's password on the page with setup code {code}\n"
            f"ukscp: (the code is also in {app.setup_codes.path}; "
            "`ukscp setup-code` prints it again)",
            flush=True,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def ready(url: str) -> None:
        print(f"{READY_MARKER}{url}", flush=True)

    return await app.run(stop, on_ready=ready)


def main() -> None:
    """Console entry point."""
    cli(prog_name="ukscp")


if __name__ == "__main__":
    main()
