"""archc schema: print the JSON Schema of the spec format, for editors."""
from __future__ import annotations

import argparse
import json

from archc.commands._common import EXIT_OK

NAME = "schema"
HELP = "print the JSON Schema of the spec format (for editor checking and completion)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Save it beside your specs (archc schema > archc.schema.json) and start a spec with "
        "'# yaml-language-server: $schema=archc.schema.json' for checking and completion in editors."
    )


def run(args: argparse.Namespace) -> int:
    from archc.spec.json_schema import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2))
    return EXIT_OK
