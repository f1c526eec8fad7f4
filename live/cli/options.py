"""The option groups several subcommands share, declared once so every subcommand that does a thing
takes the same flags for it: recognition, voice activity detection, the LLM, a `live serve` to use, TLS.

Flags left unset are None, so the config file and ``LIVE_*`` variables fill them (``live.config``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ENGINE_KEYS = ("engine", "backend", "model", "language", "compute", "threads")
RECOGNITION_KEYS = (*ENGINE_KEYS, "script", "vocab", "speakers")
VAD_KEYS = ("vad_aggressiveness", "silence_ms", "max_segment_s")
# flag (dest) -> key of the [llm] table
LLM_FLAGS = {"llm_base_url": "base_url", "llm_model": "model", "notes_language": "notes_language",
             "notes_every": "interval_minutes"}


def add_recognition(p: argparse.ArgumentParser, *, title: str = "recognition", script: bool = True,
                    vocab: bool = True, speakers: bool = True, language_help: str = "spoken language (default auto)",
                    threads_help: str = "recognition threads (default: all cores; Whisper all but one)") -> argparse._ArgumentGroup:
    """--engine --backend --model --language --compute --threads (and --script, --vocab, --speakers where
    they apply)."""
    asr = p.add_argument_group(title)
    asr.add_argument("--engine", metavar="auto|sensevoice|whisper",
                     help="auto (default): SenseVoice if present or downloadable, else Whisper")
    asr.add_argument("--backend", metavar="auto|onnx|torch", help="SenseVoice runtime (default auto: onnx when available)")
    asr.add_argument("--model", "-m", metavar="FOLDER|HUB_ID", help="a local model folder or a hub id (iic/SenseVoiceSmall)")
    asr.add_argument("--language", "-l", metavar="auto|zh|en|yue|ja|ko", help=language_help)
    if script:
        asr.add_argument("--script", metavar="simplified|traditional|traditional-hk",
                         help="Chinese characters (default: Mandarin simplified, Cantonese as recognized)")
    asr.add_argument("--compute", metavar="cpu|cuda", help="where the model runs (default cpu)")
    asr.add_argument("--threads", type=int, metavar="N", help=threads_help)
    if vocab:
        asr.add_argument("--vocab", type=Path, metavar="FILE",
                         help="the course's terms, one a line (optional weight: 'Laplacian, 2'); with the slides' "
                         "terms they bias Whisper and correct near-misses in every caption")
    if speakers:
        asr.add_argument("--speakers", metavar="on|off",
                         help="label each caption lecturer or audience (a question from the room); default on")
    return asr


def add_vad(p: argparse.ArgumentParser) -> None:
    vad = p.add_argument_group("voice activity detection")
    vad.add_argument("--vad-aggressiveness", type=int, metavar="0-3", help="webrtcvad aggressiveness (default 2)")
    vad.add_argument("--silence-ms", type=int, metavar="MS", help="silence that ends a caption (default 500)")
    vad.add_argument("--max-segment-s", type=float, metavar="S", help="longest caption segment (default 15)")


def add_llm(group: argparse._ArgumentGroup, *, every: bool = False) -> None:
    """The LLM's options of every subcommand that writes notes or translations."""
    group.add_argument("--llm-base-url", metavar="URL", help="any OpenAI-compatible API (default https://api.deepseek.com)")
    group.add_argument("--llm-model", metavar="NAME", help="default deepseek-flash")
    group.add_argument("--notes-language", metavar="LANG", help="language of the notes (default: the lecture's)")
    if every:
        group.add_argument("--notes-every", type=float, metavar="MIN",
                           help="rolling notes update every MIN minutes (default 5; 0 turns them off)")


def add_slides(group: argparse._ArgumentGroup, help: str) -> None:
    group.add_argument("--slides", type=Path, metavar="DECK", help=help)


def add_translate(group: argparse._ArgumentGroup, help: str) -> None:
    group.add_argument("--translate", metavar="LANG", help=help)


def add_server_client(p: argparse.ArgumentParser, server_help: str) -> None:
    """--server and --api-key-file: recognize on a `live serve` instead of here."""
    remote = p.add_argument_group("server (recognize on a `live serve` machine)")
    remote.add_argument("--server", metavar="URL", help=server_help)
    remote.add_argument("--api-key-file", type=Path, metavar="FILE",
                        help="file holding the server's API key, chmod 600 (else LIVE_SERVER_API_KEY)")


def add_tls(group: argparse._ArgumentGroup, what: str) -> None:
    """--tls-cert --tls-key --insecure: the rule for any address other than loopback (``check_binding``)."""
    group.add_argument("--tls-cert", type=Path, metavar="FILE", help=f"TLS certificate (PEM): {what} over https")
    group.add_argument("--tls-key", type=Path, metavar="FILE", help="TLS private key (PEM)")
    group.add_argument("--insecure", action="store_true",
                       help="allow an address other than loopback without TLS (a trusted network only)")


def picked(args: argparse.Namespace, keys: tuple[str, ...]) -> dict[str, Any]:
    """The settings these options name, as parsed (unset ones None: the config file fills them)."""
    return {k: getattr(args, k, None) for k in keys}


def llm_table(args: argparse.Namespace) -> dict[str, Any]:
    """The [llm] keys the LLM options set."""
    return {key: getattr(args, flag) for flag, key in LLM_FLAGS.items() if getattr(args, flag, None) is not None}
