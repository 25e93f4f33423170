"""MSA backbones split into ``encode`` (unimodal latents) and ``head`` (fusion + regression)."""

from msmix_core.models.base import Backbone

__all__ = ["Backbone"]
