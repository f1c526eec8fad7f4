"""Build a SenseVoice model folder with random weights, for tests and timing.

Real SenseVoiceSmall weights need a model hub. This builds the same architecture from funasr's own
``SenseVoiceSmall`` class and saves it in the hub's folder layout, so ``funasr.AutoModel(model=FOLDER)``
loads it through the real code path, fully offline. Its text is garbage; its speed and memory are real.
It lives outside ``live/``, so it is not installed with the package.

    python -m devtools.sensevoice_model tiny  OUT_DIR   # seconds to build, for tests
    python -m devtools.sensevoice_model full  OUT_DIR   # 234 M parameters, ~940 MB, for benchmarks
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from live.audio import SAMPLE_RATE
from live.models import SENSEVOICE_BPE

# Rich tags as the real tokenizer has them; user-defined so sentencepiece keeps each as one piece.
LANGUAGE_TAGS = ["<|zh|>", "<|en|>", "<|yue|>", "<|ja|>", "<|ko|>", "<|nospeech|>"]
EMOTION_TAGS = ["<|HAPPY|>", "<|SAD|>", "<|ANGRY|>", "<|NEUTRAL|>", "<|FEARFUL|>", "<|DISGUSTED|>",
                "<|SURPRISED|>", "<|EMO_UNKNOWN|>"]
EVENT_TAGS = ["<|Speech|>", "<|BGM|>", "<|Applause|>", "<|Laughter|>", "<|Cry|>", "<|Sneeze|>",
              "<|Breath|>", "<|Cough|>", "<|Event_UNK|>"]
ITN_TAGS = ["<|withitn|>", "<|woitn|>"]
RICH_TAGS = LANGUAGE_TAGS + EMOTION_TAGS + EVENT_TAGS + ITN_TAGS

REAL_VOCAB = 25055


@dataclass(frozen=True)
class Size:
    """Encoder dimensions and vocabulary size of one variant."""

    output_size: int
    attention_heads: int
    linear_units: int
    num_blocks: int
    tp_blocks: int
    vocab: int


SIZES = {
    "tiny": Size(output_size=64, attention_heads=4, linear_units=128, num_blocks=2, tp_blocks=1, vocab=200),
    "full": Size(output_size=512, attention_heads=4, linear_units=2048, num_blocks=50, tp_blocks=20,
                 vocab=REAL_VOCAB),
}

_CORPUS = """ask not what your country can do for you ask what you can do for your country
the stale smell of old beer lingers it takes heat to bring out the odor
a cold dip restores health and zest a salt pickle tastes fine with ham
today we will talk about machine learning neural networks and the gradient of the loss
the lecture covers linear algebra matrices vectors eigenvalues and probability theory
one two three four five six seven eight nine ten hundred thousand
"""


def _config(size: Size) -> str:
    # Kept as YAML text (not a dict dump) so the folder reads like the hub's own config.yaml.
    return f"""encoder: SenseVoiceEncoderSmall
encoder_conf:
    output_size: {size.output_size}
    attention_heads: {size.attention_heads}
    linear_units: {size.linear_units}
    num_blocks: {size.num_blocks}
    tp_blocks: {size.tp_blocks}
    dropout_rate: 0.1
    positional_dropout_rate: 0.1
    attention_dropout_rate: 0.1
    kernel_size: 11
    sanm_shfit: 0
    input_layer: pe
    pos_enc_class: SinusoidalPositionEncoder
    normalize_before: true
    selfattention_layer_type: sanm

model: SenseVoiceSmall
model_conf:
    length_normalized_loss: true
    sos: 1
    eos: 2
    ignore_id: -1

tokenizer: SentencepiecesTokenizer
tokenizer_conf:
  bpemodel: null
  unk_symbol: <unk>
  split_with_space: true

frontend: WavFrontend
frontend_conf:
    fs: {SAMPLE_RATE}
    window: hamming
    n_mels: 80
    frame_length: 25
    frame_shift: 10
    lfr_m: 7
    lfr_n: 6
    cmvn_file: null

dataset: SenseVoiceCTCDataset
"""


def _train_tokenizer(out: Path, vocab: int, seed: int) -> None:
    """Train a small sentencepiece model, then pad it with extra pieces up to ``vocab``.

    Training a real 25k vocabulary needs a large corpus; the model's speed depends only on the piece
    count (the CTC output layer), so extra pieces are appended to the model proto directly.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text(_CORPUS * 20, encoding="utf-8")
        prefix = Path(tmp) / "sp"
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(prefix), vocab_size=min(vocab, 150),
            model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            user_defined_symbols=RICH_TAGS, character_coverage=1.0, hard_vocab_limit=False,
            minloglevel=2,
        )
        proto = pb.ModelProto()
        proto.ParseFromString(prefix.with_suffix(".model").read_bytes())
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    have = {p.piece for p in proto.pieces}
    while len(proto.pieces) < vocab:
        piece = "▁" + "".join(rng.choice(letters) for _ in range(rng.randint(3, 8)))
        if piece in have:
            continue
        have.add(piece)
        new = proto.pieces.add()
        new.piece, new.score, new.type = piece, -100.0 - len(proto.pieces), pb.ModelProto.SentencePiece.NORMAL
    (out / SENSEVOICE_BPE).write_bytes(proto.SerializeToString())


def _write_cmvn(out: Path, dim: int = 560) -> None:
    """Kaldi nnet-style CMVN, the format funasr's WavFrontend reads (shift, then scale)."""
    shift = " ".join(["-8.0"] * dim)
    scale = " ".join(["0.25"] * dim)
    (out / "am.mvn").write_text(
        f"<Nnet>\n<Splice> {dim} {dim}\n[ 0 ]\n<AddShift> {dim} {dim}\n<LearnRateCoef> 0 [ {shift} ]\n"
        f"<Rescale> {dim} {dim}\n<LearnRateCoef> 0 [ {scale} ]\n</Nnet>\n",
        encoding="utf-8",
    )


def build(out: Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write a loadable SenseVoice folder at ``out`` and return it."""
    import torch
    import yaml
    from funasr.models.sense_voice.model import SenseVoiceSmall

    dims = SIZES[size]
    out.mkdir(parents=True, exist_ok=True)
    _train_tokenizer(out, dims.vocab, seed)
    _write_cmvn(out)
    config_text = _config(dims)
    (out / "config.yaml").write_text(config_text, encoding="utf-8")
    (out / "configuration.json").write_text(json.dumps({
        "framework": "pytorch",
        "task": "auto-speech-recognition",
        "model": {"type": "funasr"},
        "pipeline": {"type": "funasr-pipeline"},
        "model_name_in_hub": {"ms": "", "hf": ""},
        "file_path_metas": {
            "init_param": "model.pt",
            "config": "config.yaml",
            "tokenizer_conf": {"bpemodel": SENSEVOICE_BPE},
            "frontend_conf": {"cmvn_file": "am.mvn"},
        },
        "live_devmodel": {"size": size, "seed": seed,
                          "note": "random weights, built by devtools.sensevoice_model"},
    }, indent=2), encoding="utf-8")

    conf = yaml.safe_load(config_text)
    torch.manual_seed(seed)
    model = SenseVoiceSmall(
        encoder=conf["encoder"], encoder_conf=conf["encoder_conf"], input_size=80 * 7,
        vocab_size=dims.vocab, **conf["model_conf"],
    )
    torch.save(model.state_dict(), out / "model.pt")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("size", choices=sorted(SIZES))
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = build(args.out, args.size, args.seed)
    print(f"built a random-weight {args.size} SenseVoice at {path}")


if __name__ == "__main__":
    main()
