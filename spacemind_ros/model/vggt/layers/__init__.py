"""Transformer building blocks shared by the DINOv2 embedder, the aggregator and the camera head."""
from spacemind_ros.model.vggt.layers.attention import Attention
from spacemind_ros.model.vggt.layers.block import Block
from spacemind_ros.model.vggt.layers.layer_scale import LayerScale
from spacemind_ros.model.vggt.layers.mlp import Mlp
from spacemind_ros.model.vggt.layers.rope import RotaryPositionEmbedding2D, grid_positions

__all__ = ["Attention", "Block", "LayerScale", "Mlp", "RotaryPositionEmbedding2D", "grid_positions"]
