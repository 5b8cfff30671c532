import click


@click.command("demo")
@click.option("--graduates", "count", type=int, default=300)
def demo_command(count: int) -> None:
    """Load demo data."""
    raise SystemExit("not yet")
