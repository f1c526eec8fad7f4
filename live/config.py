"""Settings from three places, later ones winning: the TOML config file, ``LIVE_*`` environment
variables, command-line flags.

The config file is ``$LIVE_CONFIG``, else ``$XDG_CONFIG_HOME/live/config.toml`` (``~/.config/live``).
Top-level keys are the run options below (``engine = "whisper"``, ``silence_ms = 600``...); the
``[llm]`` table configures the notes (see ``live.llm.LLMSettings``). API keys are never read from here.
Everything is parsed and validated once, by ``load_settings``: ``Settings.llm`` is the typed
``LLMSettings``, and the stages' option types come from ``Settings`` (``vad_options``, ``caption_options``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from live.asr.base import BACKENDS, ENGINES
from live.captions import CaptionOptions
from live.errors import ConfigError
from live.language import LANGUAGES, check_target
from live.llm import LLMSettings
from live.textnorm import SCRIPTS
from live.vad import VadOptions

DEMOS = ("en", "zh")  # the clips in live/data (see live/data/SOURCES.md)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]



def config_dir(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "live"


def default_session_root(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "live" / "sessions"


@dataclass
class Settings:
    """Everything a run needs. Field names are the config-file keys and the ``LIVE_<NAME>`` variables.

    Attributes:
        input: replay this audio/video file instead of the microphone.
        fast: with ``input``, go as fast as the machine can instead of real time.
        demo: replay a short lecture clip that ships with the project: "en" (a talk in English) or
            "zh" (a Mandarin lecture); None replays nothing. ``true`` in the config file means "en". Its
            language is the clip's unless ``language`` is set (flag, environment or config file).
        device: microphone index or (part of its) name; None = the default input; "monitor" (or a
            listed monitor's name) = what the computer plays (``live.audio.loopback``).
        mix: system audio mixed in with the microphone ("monitor": the default output's); None = none.
        engine: "auto", "sensevoice" or "whisper".
        backend: SenseVoice runtime: "auto" (onnx when available), "onnx" or "torch".
        model: a local model folder or a hub id.
        language: "auto", "zh", "en", "yue", "ja" or "ko".
        script: how Chinese is written: None (default) Mandarin in simplified characters and Cantonese as
            recognized; "simplified", "traditional" (Taiwan) or "traditional-hk" (Hong Kong) for both.
        compute: "cpu" or "cuda".
        threads: recognition threads (None = all cores; Whisper all but one, left to the pipeline).
        session_dir: the folder under which each session gets its own folder.
        headless, json, partials: print captions to stdout instead of the TUI.
        vad_aggressiveness, silence_ms, max_segment_s: voice activity detection.
        record_audio: keep the session's audio as audio.wav.
        slides: the course slides (.pdf or .pptx), given to the notes as context; their terms join the
            vocabulary.
        vocab: the course's vocabulary file (one term a line, optional weight): it biases Whisper and
            corrects near-misses in every final.
        translate: a language code (e.g. "zh"): each final is translated into it by the LLM.
        speakers: label each final "lecturer" or "audience" by its voice (live.speakers), off the
            captions' path; on by default (it costs about 1.5 % of a core while someone speaks).
        resume: a saved session folder to continue (its clock, indices, audio and notes go on).
        start: with ``input``, begin this many seconds into the file.
        llm: how to reach the LLM for notes and translations (the ``[llm]`` table, with the ``--llm-*``
            flags over it).
        server: a ``live serve`` URL (``ws://host:14612``, ``wss://…``): recognize there instead of here.
        api_key_file: with ``server``, a file holding its API key, readable by its owner only
            (else ``LIVE_SERVER_API_KEY``).
        share: share the captions as a room: a page every phone and the projector can open
            (``live.room``); with ``server``, the room is on that server.
        share_host, share_port: where the room's web server listens (127.0.0.1: this machine only;
            a LAN address for the lecture hall, which wants ``tls_cert``/``tls_key`` or ``insecure``).
        share_languages: language codes viewers may choose, comma-separated ("zh,es"): each is
            translated once, by the LLM, on the sharing side.
        share_title: the room page's heading (default "Live captions").
        tls_cert, tls_key: PEM files: the room's page over https.
        insecure: allow a ``share_host`` other than loopback without TLS (a network you trust).
    """

    input: Path | None = None
    fast: bool = False
    demo: str | None = None
    device: str | None = None
    mix: str | None = None
    engine: str = "auto"
    backend: str = "auto"
    model: str | None = None
    language: str = "auto"
    script: str | None = None
    compute: str = "cpu"
    threads: int | None = None
    session_dir: Path = field(default_factory=default_session_root)
    headless: bool = False
    json: bool = False
    partials: bool = False
    vad_aggressiveness: int = 2
    silence_ms: int = 500
    max_segment_s: float = 15.0
    record_audio: bool = True
    slides: Path | None = None
    vocab: Path | None = None
    translate: str | None = None
    speakers: bool = True
    resume: Path | None = None
    start: float = 0.0
    llm: LLMSettings = field(default_factory=LLMSettings)
    server: str | None = None
    api_key_file: Path | None = None
    share: bool = False
    share_host: str = "127.0.0.1"
    share_port: int = 14613
    share_languages: str | None = None
    share_title: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False

    def validate(self) -> Settings:
        if self.demo is not None and self.demo not in DEMOS:
            raise ConfigError(f"unknown demo '{self.demo}'; choose one of: {', '.join(DEMOS)}")
        if self.engine not in ENGINES:
            raise ConfigError(f"unknown engine '{self.engine}'; choose one of: {', '.join(ENGINES)}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend '{self.backend}'; choose one of: {', '.join(BACKENDS)}")
        if self.language not in LANGUAGES:
            raise ConfigError(f"unknown language '{self.language}'; choose one of: {', '.join(LANGUAGES)}")
        if self.script is not None and self.script not in SCRIPTS:
            raise ConfigError(f"unknown script '{self.script}'; choose one of: {', '.join(SCRIPTS)}")
        if self.compute not in ("cpu", "cuda"):
            raise ConfigError(f"unknown compute device '{self.compute}'; choose cpu or cuda")
        if not 0 <= self.vad_aggressiveness <= 3:
            raise ConfigError("vad_aggressiveness must be 0, 1, 2 or 3")
        if not 100 <= self.silence_ms <= 5000:
            raise ConfigError("silence_ms must be between 100 and 5000")
        if not 2.0 <= self.max_segment_s <= 60.0:
            raise ConfigError("max_segment_s must be between 2 and 60 seconds")
        if self.threads is not None and self.threads < 1:
            raise ConfigError("threads must be at least 1")
        if self.start < 0:
            raise ConfigError("--start must be 0 or more seconds")
        if self.translate is not None and self.translate.strip().lower() in ("", "off", "none"):
            self.translate = None
        if self.translate is not None:
            self.translate = check_target(self.translate)
        if not 0 <= self.share_port <= 65535:
            raise ConfigError(f"share_port must be between 0 and 65535 (got {self.share_port})")
        try:
            codes = [check_target(c) for c in (self.share_languages or "").replace(" ", ",").split(",") if c]
        except ConfigError:
            raise ConfigError(f"--share-languages takes language codes such as zh,es,pt-br (got "
                              f"{self.share_languages!r})") from None
        self.share_languages = ",".join(dict.fromkeys(codes)) or None
        return self

    def vad_options(self) -> VadOptions:
        """The voice activity detection these settings ask for."""
        return VadOptions(aggressiveness=self.vad_aggressiveness, silence_ms=self.silence_ms,
                          max_segment_s=self.max_segment_s)

    def caption_options(self, *, partials: bool | None = None) -> CaptionOptions:
        """The captioner these settings ask for; ``partials`` (default: the TUI always, headless with
        ``--partials``) says whether open segments are decoded."""
        return CaptionOptions(partials=(not self.headless or self.partials) if partials is None else partials,
                              script=self.script)

    @property
    def share_language_list(self) -> tuple[str, ...]:
        """The languages a room offers its viewers: ``share_languages``, and ``translate`` too."""
        codes = (self.share_languages or "").split(",") + [self.translate or ""]
        return tuple(dict.fromkeys(code for code in codes if code))


_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    """Turn a config/env value into the field's type, with a clear error."""
    kind = str(_FIELDS[name].type)
    try:
        if name == "llm":  # the table as it is: load_settings merges the flags' over the file's, then parses it
            if not isinstance(value, dict):
                raise TypeError
            return value
        if value is None:
            return None
        if name == "demo":  # `demo = true` (a flag before there were two clips) means the English one
            text = str(value).strip().lower()
            return {"true": "en", "1": "en", "yes": "en", "on": "en", "false": None, "0": None, "no": None,
                    "off": None, "": None}.get(text, text)
        if "bool" in kind:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError
        if "Path" in kind:
            return Path(str(value)).expanduser()
        if "int" in kind:
            return int(value)
        if "float" in kind:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"bad value for {name}: {value!r}") from None


def load_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"unknown key(s) in {path}: {', '.join(unknown)}; see `live --help`")
    return data


def load_settings(flags: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Defaults < config file < environment < flags (flags set to None are ignored). ``flags["llm"]``
    holds the [llm] keys the flags set (``--llm-model``...): they win over the file's, key by key."""
    env = dict(os.environ) if env is None else env
    path = Path(env["LIVE_CONFIG"]) if env.get("LIVE_CONFIG") else config_dir(env) / "config.toml"
    if "LIVE_CONFIG" in env and not path.exists():
        raise ConfigError(f"LIVE_CONFIG names {path}, which does not exist")
    merged: dict[str, Any] = {}
    for key, value in load_file(path).items():
        merged[key] = _coerce(key, value)
    for name in _FIELDS:
        var = f"LIVE_{name.upper()}"
        if name != "llm" and var in env:
            merged[name] = _coerce(name, env[var])
    for key, value in (flags or {}).items():
        if value is not None:
            value = _coerce(key, value)
            merged[key] = {**merged.get(key, {}), **value} if key == "llm" else value
    merged["llm"] = LLMSettings.from_mapping(merged.get("llm", {}))
    if merged.get("demo") and "language" not in merged:
        merged["language"] = merged["demo"]  # the demo knows its clip's language: no detection, the fastest engine
    return Settings(**merged).validate()
