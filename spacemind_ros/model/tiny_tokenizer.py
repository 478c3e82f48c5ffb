"""Small byte-level BPE tokenizers with InternVL's special tokens, trained in code: the tiny preset's (a generic
corpus) and the small preset's (the synthetic scenes' question and answer language, digits one token each)."""
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


def scene_corpus() -> str:
    """Every question wording of the synthetic scenes (scenes/questions.py) with every category, the prompt's fixed
    text and the answer forms: what the small preset reads and writes."""
    from spacemind_ros.pipeline.prompting import MCA_POST, NA_POST, PRE_PROMPT, ROUTE_POST
    from spacemind_ros.scenes.catalog import CATEGORIES

    lines = [PRE_PROMPT, NA_POST, MCA_POST, ROUTE_POST, "Options:", "A. B. C. D.", "left right back front-left "
             "front-right back-left back-right", "Turn Left, Turn Right, Turn Back", "[please fill in]"]
    names = list(CATEGORIES)
    for a, b, c in zip(names, names[1:] + names[:1], names[2:] + names[:2]):
        lines += [
            f"How many {a}(s) are in this room?",
            f"Measuring from the closest point of each object, what is the direct distance between the {a} and "
            f"the {b} (in meters)?",
            f"What is the length of the longest dimension (length, width, or height) of the {a}, measured in "
            "centimeters?",
            "What is the size of this room (in square meters)? If multiple rooms are shown, estimate the size of "
            "the combined space.",
            f"Measuring from the closest point of each object, which of these objects ({a}, {b}, {c}) is the "
            f"closest to the {b}?",
            f"If I am standing by the {a} and facing the {b}, is the {c} to the left or the right of the {b}?",
            f"is the {c} to my left, right, or back? An object is to my back if I would have to turn at least 135 "
            "degrees in order to face it.",
            f"is the {c} to my front-left, front-right, back-left, or back-right? The directions refer to the "
            "quadrants of a Cartesian plane (if I am standing at the origin and facing along the positive y-axis).",
            f"You are a robot beginning at the {a} facing the {b}. You want to navigate to the {c}. You will "
            "perform the following actions (Note: for each [please fill in], choose either 'turn back,' 'turn "
            f"left,' or 'turn right.'): 1. Go forward until the {b} 2. [please fill in] 3. Go forward until the {c}",
            f"What will be the first-time appearance order of the following categories in the video: {a}, {b}, {c}?",
        ]
    return "\n".join(lines)


def build_tiny_tokenizer(vocab_size: int = 512, corpus: str | None = None,
                         split_digits: bool = False) -> PreTrainedTokenizerFast:
    """Deterministic: the same corpus and settings give the same vocabulary every time. ``split_digits`` makes each
    digit a token of its own (as Qwen2's tokenizer does), so numbers are read and written digit by digit."""
    tok = Tokenizer(models.BPE(unk_token=None))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level]) \
        if split_digits else byte_level
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([corpus or _CORPUS] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    return fast
