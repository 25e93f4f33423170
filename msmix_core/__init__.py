"""msmix_core: emotion-aware mixup (MS-Mix) for multimodal sentiment analysis.

A UI-free, device-agnostic PyTorch library: datasets, mixup methods, MSA backbones,
a trainer, MMSA-compatible metrics, a run store and a command line.
"""

from msmix_core.errors import MsmixError

__version__ = "0.1.0"

#: The three modalities, in the order every module uses them.
MODALITIES: tuple[str, str, str] = ("text", "audio", "vision")

__all__ = ["MODALITIES", "MsmixError", "__version__"]
