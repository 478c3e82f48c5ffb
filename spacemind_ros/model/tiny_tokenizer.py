"""A small byte-level BPE tokenizer with InternVL's special tokens, trained in code for the tiny preset."""
from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>"]

# Words of the questions and answers the node deals with, so the tiny vocabulary covers them in few pieces.
_CORPUS = """
These are frames of a video. Please answer the question using a single word or phrase.
Answer with the option's letter from the given choices directly. Options: A. B. C. D.
How far is the sofa from the door? What is the distance between the bed and the table in meters?
If I am standing by the fridge and facing the sink, is the stove to my left, right or back?
How many chairs are in this room? What is the size of this room in square meters?
What is the length of the longest dimension of the table in centimeters? Which object is closest to the lamp?
How do I get to the bed? Go forward until the sofa, turn left, turn right, turn back, stop at the kitchen.
Which of these objects appears first in the video? zero one two three four five six seven eight nine ten
0 1 2 3 4 5 6 7 8 9 . , ? : m cm meters metres square yes no left right front behind near far
refrigerator television window cabinet shelf desk monitor toilet sink bathtub pillow towel backpack
"""


def build_tiny_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Deterministic: the same corpus and settings give the same vocabulary every time."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    return fast
