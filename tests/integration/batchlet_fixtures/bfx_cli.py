"""A module run as ``python -m bfx_cli [code]`` by the python-main batchlet tests."""
import logging
import sys


def main():
    print(f"running as {__name__} with {sys.argv[1:]}")
    logging.getLogger("bfx").info("argv[0] ends with %s", sys.argv[0].rsplit("/", 1)[-1])
    if len(sys.argv) > 1:
        sys.exit(int(sys.argv[1]))


if __name__ == "__main__":
    main()
