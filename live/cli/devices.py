"""``live devices``: the microphones, and what this computer plays (system audio)."""

from __future__ import annotations

import argparse

COMMANDS = {"devices": "list microphones and system audio"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("devices", help=COMMANDS["devices"],
                   description="The inputs `live --device` takes: microphones by index or name, and system "
                   "audio (what this computer plays) by name or 'monitor'.").set_defaults(func=devices)


def devices(args: argparse.Namespace) -> int:
    from live.audio import install_hint, list_devices, list_system_inputs

    found, system = list_devices(), list_system_inputs()
    print("microphones (--device INDEX or a name below; * the default):")
    for d in found:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:3d}  {d.name}  ({d.channels} ch, {d.default_samplerate:.0f} Hz)")
    if not found:
        print("  none: no input devices found (no sound card?); use --input FILE to caption a recording")
    print("\nsystem audio (what this computer plays: --device monitor or a name below; --mix adds it to the mic):")
    for s in system:
        print(f"{'*' if s.is_default else ' '}      {s.name}" + (f"  ({s.description})" if s.description != s.name else ""))
    if not system:
        print(f"  none: {install_hint()}")
    return 0 if found or system else 1
