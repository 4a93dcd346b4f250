"""The ``ukscp`` command line."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from ukscp.app import ServeError, build_app
from ukscp.clock import RealClock
from ukscp.config import ConfigError, Settings, load_config

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
) -> None:
    """Start the charger. SIGTERM or Ctrl-C stops it cleanly."""
    settings = _settings(config, data_dir, host=host, port=port, sim_plug=sim_plug)
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT)
    try:
        code = asyncio.run(_serve(settings))
    except (ConfigError, ServeError) as exc:
        typer.echo(f"ukscp: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


async def _serve(settings: Settings) -> int:
    app = build_app(settings, RealClock())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def ready(url: str) -> None:
        print(f"ukscp: charger ready at {url}", flush=True)

    return await app.run(stop, on_ready=ready)


def main() -> None:
    """Console entry point."""
    cli(prog_name="ukscp")


if __name__ == "__main__":
    main()
