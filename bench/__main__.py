"""``python -m bench [--suite engine|desk|portal] ...``: the engine-core benchmark (default), the desk
one or the graduate portal one."""
import sys


def main(argv: list[str]) -> int:
    suite = "engine"
    if "--suite" in argv:
        i = argv.index("--suite")
        suite = argv[i + 1] if i + 1 < len(argv) else ""
        argv = argv[:i] + argv[i + 2:]
    elif any(a.startswith("--suite=") for a in argv):
        suite = next(a for a in argv if a.startswith("--suite="))[len("--suite="):]
        argv = [a for a in argv if not a.startswith("--suite=")]
    if suite == "desk":
        from bench.desk import main as desk_main

        return desk_main(argv, cmd="python -m bench --suite desk " + " ".join(argv))
    if suite == "portal":
        from bench.portal import main as portal_main

        return portal_main(argv, cmd="python -m bench --suite portal " + " ".join(argv))
    if suite == "engine":
        from bench.engine_core import main as engine_main

        return engine_main(argv)
    print(f"python -m bench: unknown --suite {suite!r} (engine, desk, portal)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
