"""The seed's ResNet-50 image encoder: timm's ``resnet50.a1_in1k``, 2048-d pooled features."""

from __future__ import annotations

from mmbench.components.encoders.timm_image import TimmImageEncoder
from mmbench.kinds import register_encoder


@register_encoder("resnet50", consumes="image")
class ResNet50ImageEncoder(TimmImageEncoder):
    """ResNet-50 (timm ``resnet50.a1_in1k``, ImageNet) 2048-d pooled image features, from the hub."""

    name = "resnet50"

    def __init__(self, *, pretrained: bool = True, batch_size: int = 32, device: str = "auto") -> None:
        """Args:
            pretrained: load the ImageNet weights (from the hub; fails at once when offline and not cached);
                ``False`` gives a random init seeded with 0.
            batch_size: images per forward pass (does not change the features).
            device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda:N"``.
        """
        super().__init__(model="resnet50.a1_in1k", pretrained=pretrained, batch_size=batch_size, device=device)
