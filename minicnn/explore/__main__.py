"""`python -m minicnn.explore [--model M] [--data PATH] [--host H] [--port P] [--open]`:
the same as `minicnn explore`."""
import argparse
import sys

from minicnn.explore.cli import add_explore_options, run


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minicnn.explore",
                                     description="the lecture's pictures, live in the browser")
    add_explore_options(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (ValueError, OSError) as error:
        print(f"minicnn explore: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
