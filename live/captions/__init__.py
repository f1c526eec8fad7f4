"""Captions: the policy that turns VAD segments into partial and final captions (``policy``), the
caption itself (``caption``) and decode batches for recordings (``batching``)."""

from live.captions.batching import Batch, Batcher, BatchOptions
from live.captions.caption import Caption, CaptionKind
from live.captions.policy import Captioner, CaptionOptions, DecodeJob, DecodeRecord

__all__ = ["Batch", "BatchOptions", "Batcher", "Caption", "CaptionKind", "CaptionOptions", "Captioner", "DecodeJob",
           "DecodeRecord"]
