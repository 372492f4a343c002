"""Network definitions of the RDS bundle, as MONAI bundle config entries (``_target_`` dicts).

- Lung segmentation: MONAI 2D ``UNet``, 1 input channel, 3 output channels (background, right lung,
  left lung).
- RDS classifier: MONAI ``EfficientNetBN`` B0 (default), B3 or B5, 1 input channel, 1 logit. The
  variant ``b0-small`` is EfficientNet's B0 block layout at width 0.25 and depth 0.5 (MONAI's generic
  ``EfficientNet``): 0.2 M parameters instead of 4 M, used by the shipped demonstration bundle so that
  it stays under 1 MB and trains on a CPU in minutes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

CLASSIFIER_VARIANTS = ("b0", "b3", "b5", "b0-small")
GRADCAM_LAYER = "_conv_head"  # last convolution of every EfficientNet variant
B0_BLOCKS = [
    "r1_k3_s11_e1_i32_o16_se0.25",
    "r2_k3_s22_e6_i16_o24_se0.25",
    "r2_k5_s22_e6_i24_o40_se0.25",
    "r3_k3_s22_e6_i40_o80_se0.25",
    "r3_k5_s11_e6_i80_o112_se0.25",
    "r4_k5_s22_e6_i112_o192_se0.25",
    "r1_k3_s11_e6_i192_o320_se0.25",
]


def unet_config(channels: tuple[int, ...] = (8, 16, 32, 64, 64)) -> dict[str, Any]:
    return {
        "_target_": "monai.networks.nets.UNet",
        "spatial_dims": 2,
        "in_channels": 1,
        "out_channels": 3,
        "channels": list(channels),
        "strides": [2] * (len(channels) - 1),
        "num_res_units": 1,
    }


def classifier_config(variant: str, image_size: int) -> dict[str, Any]:
    if variant not in CLASSIFIER_VARIANTS:
        raise ValueError(f"classifier variant {variant!r}: expected one of {', '.join(CLASSIFIER_VARIANTS)}")
    if variant == "b0-small":
        return {
            "_target_": "monai.networks.nets.EfficientNet",
            "blocks_args_str": B0_BLOCKS,
            "spatial_dims": 2,
            "in_channels": 1,
            "num_classes": 1,
            "width_coefficient": 0.25,
            "depth_coefficient": 0.5,
            "image_size": image_size,
        }
    return {
        "_target_": "monai.networks.nets.EfficientNetBN",
        "model_name": f"efficientnet-{variant}",
        "pretrained": False,
        "spatial_dims": 2,
        "in_channels": 1,
        "num_classes": 1,
    }


def instantiate(config: dict[str, Any]) -> torch.nn.Module:
    """Build a network from a config entry exactly as the bundle loader will."""
    import torch
    from monai.bundle import ConfigParser

    network = ConfigParser({"network": config}).get_parsed_content("network", instantiate=True)
    if not isinstance(network, torch.nn.Module):
        raise TypeError("the config entry did not build a torch.nn.Module")
    return network
