"""A tiny, randomly initialised text-to-image pipeline built in code: the same classes as SD-Turbo
with a preview autoencoder (UNet2DConditionModel, AutoencoderTiny, CLIPTextModel, CLIPTokenizer),
small enough to render a 512² image on a 2-core CPU in about 0.1 s. No file is downloaded.

The pictures are noise-like, but every code path (tokenising, conditioning, seeds, batching,
scheduling, decoding, img2img) is the real one.
"""

from __future__ import annotations

import string

import torch
from diffusers import AutoencoderTiny, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

TEXT_WIDTH = 32
WEIGHTS_SEED = 0  # the same random weights in every process, so a seed means the same picture everywhere


def _tokenizer() -> CLIPTokenizer:
    """Characters and their end-of-word forms (CLIP's BPE marks a word's last character "c</w>"
    itself), plus the merges of the commonest English letter pairs. transformers 5 takes merges as
    tuples and needs every token a merge makes in the vocabulary."""
    characters = list(string.ascii_lowercase + string.digits + string.punctuation)
    pairs = [("t", "h"), ("h", "e</w>"), ("i", "n"), ("e", "r"), ("a", "n"), ("r", "e"), ("o", "n")]
    tokens = ["<|startoftext|>", "<|endoftext|>", *characters, *(f"{c}</w>" for c in characters)]
    tokens += [left + right for left, right in pairs]
    return CLIPTokenizer(
        vocab={token: index for index, token in enumerate(tokens)},
        merges=pairs,
        model_max_length=77,
    )


def build_tiny_pipeline() -> StableDiffusionPipeline:
    tokenizer = _tokenizer()
    torch.manual_seed(WEIGHTS_SEED)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=TEXT_WIDTH,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=64,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )
    scheduler = EulerDiscreteScheduler(timestep_spacing="trailing", steps_offset=1)
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
