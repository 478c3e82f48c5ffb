"""Training: CGMF + LoRA fine-tuning of SpaceMind on VSI-style question/answer records (ROS-free).

records (one QA sample) <- readers (VSI-Bench / synthetic-scene JSONL, VLM-3R, ViCA-322K, SQA3D) -> media (sampled
frames from a video, a frame folder or a bag) -> data (dataset, prompt + answer tokens, collation) -> trainer
(encoders frozen, CGMF + LoRA trained; encoder-output cache; checkpoints; DDP). ``spacemind-train`` is the face.
"""
