"""Models: VGGT (spatial encoder), CGMF (fusion) and SpaceMind (InternVL3 + VGGT + CGMF + LoRA)."""
