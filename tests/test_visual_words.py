"""The visual-words loss: at each visual token the LLM names, through its own LM head, the object the token's patch
shows, against the question's own sampled frames' per-pixel classes; training only."""
import pytest
import torch
from torch import nn

from spacemind_ros.pipeline.frame_window import sample_indices
from spacemind_ros.scenes.catalog import SEMANTIC_CLASSES
from spacemind_ros.train.category_objective import read_labelled_views, token_targets
from spacemind_ros.train.config import load_config
from spacemind_ros.train.data import sampling_config
from spacemind_ros.train.trainer import Trainer
from spacemind_ros.train.visual_words import SampledTokenTargets, object_word_ids, visual_words_loss


def test_the_loss_by_hand_counts_tokens_by_their_object_share():
    lm_head = nn.Linear(3, 5, bias=False)
    with torch.no_grad():
        lm_head.weight.copy_(torch.tensor([[1., 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1]]))
    hidden = torch.tensor([[[9., 9, 9], [0.5, -1, 2], [1, 2, 0], [3, 3, 3]]])
    image = torch.tensor([[False, True, True, False]])
    # classes: floor, ceiling, wall, then two objects (words 4 and 1)
    targets = torch.tensor([[0., 0, 1, 0, 0],  # all wall: counts 0
                            [0., 0, 0.5, 0.25, 0.25]])
    words = torch.tensor([4, 1])
    logp = torch.log_softmax(lm_head(hidden[0, 2]), -1)
    expected = -(0.25 * logp[4] + 0.25 * logp[1]) / 0.5
    loss = visual_words_loss(hidden, image, targets, nn.Identity(), lm_head, words)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    moved = hidden.clone()
    moved[0, 1] = torch.tensor([-4., 7, 1])  # the wall token's state does not matter
    assert visual_words_loss(moved, image, targets, nn.Identity(), lm_head, words).item() == pytest.approx(loss.item())
    with pytest.raises(ValueError, match="3 image tokens in the batch but visual-words targets for 2"):
        visual_words_loss(hidden, torch.tensor([[False, True, True, True]]), targets, nn.Identity(), lm_head, words)


def test_object_words_are_the_first_token_of_each_name():
    from spacemind_ros.model.presets import load_model

    _, processor = load_model(None, preset="small")
    tok = processor.tokenizer
    ids = object_word_ids(tok)
    names = SEMANTIC_CLASSES[3:]
    assert len(ids) == len(names) == 15 and len(set(ids.tolist())) == 15
    assert [tok.decode([i]) for i in ids.tolist()] == [" " + n.split()[0] for n in names]


def test_targets_are_the_sampled_frames_labels_read_once(synth_scene, monkeypatch):
    bag = synth_scene / "synth" / "bag"
    sampling = sampling_config(6, 1)  # 4 of the bag's 12 frames
    targets = SampledTokenTargets(4, len(SEMANTIC_CLASSES))(bag, sampling)
    picks = sample_indices(12, sampling)
    assert targets.shape == (4, 16, len(SEMANTIC_CLASSES)) and len(picks) == 4
    views = read_labelled_views(bag, picks)
    assert torch.equal(targets, torch.stack([token_targets(c, 4, len(SEMANTIC_CLASSES)) for _, c in views]))
    assert torch.allclose(targets.sum(-1), torch.ones(4, 16))
    # until_ns: only the frames logged by then are sampled, as the QA dataset samples them
    stamps = sorted(ts for ts in _image_stamps(bag))
    early = SampledTokenTargets(4, len(SEMANTIC_CLASSES))(bag, sampling, stamps[5])
    assert torch.equal(early, torch.stack([token_targets(c, 4, len(SEMANTIC_CLASSES))
                                           for _, c in read_labelled_views(bag, sample_indices(6, sampling))]))
    reader = SampledTokenTargets(4, len(SEMANTIC_CLASSES))
    first = reader(bag, sampling)
    monkeypatch.setattr("spacemind_ros.train.visual_words.read_labelled_views",
                        lambda *a, **k: pytest.fail("the bag was read again"))
    assert reader(bag, sampling) is first


def _image_stamps(bag):
    from spacemind_ros.scenes.bag import IMAGE_TOPIC, read_messages

    return [ts for ts, _ in read_messages(bag, IMAGE_TOPIC)]


def test_the_qa_stage_learns_the_words_and_its_held_out_loss_is_the_answers(synth_scene, tmp_path):
    data = f"[{{format: scenes, path: '{synth_scene / 'q.jsonl'}'}}]"
    overrides = [
        "model.preset=small", "model.trainable=[llm,cgmf]", f"data.train={data}", f"data.eval={data}",
        "data.sample_frames=6", "train.global_batch=4", "train.micro_batch=4", "train.max_steps=10", "train.lr=3e-3",
        "train.warmup_ratio=0", "train.visual_words_weight=1.0", "train.eval_generate=false",
        f"output.dir='{tmp_path}'", "output.progress_bar=false", "output.tensorboard=false"]
    trainer = Trainer(load_config(None, overrides))
    batch = trainer.collator([trainer.dataset[i] for i in range(4)])
    assert batch["word_targets"].shape == (4 * 4 * 16, len(SEMANTIC_CLASSES))
    trainer.loss_module.train()
    with torch.no_grad():
        with_words = trainer.micro_loss(batch, trainer.loss_module)
        trainer.loss_module.eval()
        answers_only = trainer.micro_loss(batch, trainer.loss_module)
    units = trainer.loss_units(batch)
    added, words_sum, micro = trainer.loss_module.pop_words()
    assert micro == 1 and added == pytest.approx(words_sum * units, rel=1e-6)  # weight 1
    assert with_words.item() == pytest.approx(answers_only.item() + added, rel=1e-5)
    assert "word_targets" not in trainer._dataset(trainer.eval_records, training=False)[0]  # held-out: answers only
    summary = trainer.fit()
    words = [row["words_loss"] for row in trainer.history]
    assert summary["steps"] == 10 and len(words) == 10
    assert words[-1] < 0.7 * words[0]  # the same four samples' tokens, learnt
    assert "words_loss" in (tmp_path / "train_log.csv").read_text().splitlines()[0]
    # the logged loss is the answers' alone: the first step's is the same as without the words loss
    plain = load_config(None, [o for o in overrides if "visual_words" not in o and "output.dir" not in o]
                        + ["train.max_steps=1", f"output.dir='{tmp_path / 'plain'}'"])
    without = Trainer(plain)
    without.fit()
    assert without.history[0]["loss"] == pytest.approx(trainer.history[0]["loss"], rel=1e-5)


def test_without_the_weight_nothing_changes(synth_scene, tmp_path):
    data = f"[{{format: scenes, path: '{synth_scene / 'q.jsonl'}'}}]"
    config = load_config(None, [
        "model.preset=small", "model.trainable=[llm,cgmf]", f"data.train={data}", "data.sample_frames=6",
        "train.global_batch=1", f"output.dir='{tmp_path}'"])
    trainer = Trainer(config)
    assert trainer.word_targets is None and "word_targets" not in trainer.dataset[0]
    assert trainer.loss_module.word_ids is None


def test_frames_without_labels_train_on_their_answer_alone(synth_scene, tmp_path, caplog):
    from spacemind_ros.eval.bags import bag_frames, write_frames
    from spacemind_ros.train.data import QADataset
    from spacemind_ros.train.records import QARecord

    bag = tmp_path / "plain"  # the scene's images, no /camera/semantic
    write_frames(bag, bag_frames(synth_scene / "synth" / "bag", "/camera/image_raw"))
    reader = SampledTokenTargets(4, len(SEMANTIC_CLASSES))
    assert reader(bag, sampling_config(6, 1)) is None
    assert "no /camera/semantic" in caplog.text
    from spacemind_ros.model.presets import load_model

    _, processor = load_model(None, preset="small")
    rec = QARecord(id="1", question="How many chair(s) are in this room?", options=[], answer="2",
                   task="object_counting", media=str(bag), media_kind="bag", topic="/camera/image_raw")
    item = QADataset([rec], processor, sampling_config(6, 1), word_targets=reader)[0]
    assert isinstance(item, dict) and item["word_targets"].shape == (4 * 16, len(SEMANTIC_CLASSES))
    assert not item["word_targets"].any()  # every token weighs 0


def test_the_targets_frames_are_the_frames_the_model_sees(synth_scene):
    from spacemind_ros.train.media import sampled_frames

    bag = synth_scene / "synth" / "bag"
    sampling = sampling_config(6, 1)
    stamps = _image_stamps(bag)
    for until in (None, stamps[7]):
        seen = sampled_frames("bag", bag, sampling, "/camera/image_raw", until)
        n = 12 if until is None else 8
        labelled = read_labelled_views(bag, lambda count: sample_indices(count, sampling), until)
        assert len(seen) == len(labelled) == len(sample_indices(n, sampling))
        assert all((a == rgb).all() for a, (rgb, _) in zip(seen, labelled))


def test_the_words_loss_is_for_the_answer_objective_only(synth_scene, tmp_path):
    with pytest.raises(ValueError, match="an auxiliary loss of the answer objective, not of category"):
        load_config(None, ["model.preset=small", "train.objective=category", "train.visual_words_weight=1"])


def test_a_bad_layer_is_refused(synth_scene, tmp_path):
    data = f"[{{format: scenes, path: '{synth_scene / 'q.jsonl'}'}}]"
    config = load_config(None, [
        "model.preset=small", "model.trainable=[llm]", f"data.train={data}", "train.global_batch=1",
        "train.visual_words_weight=1.0", "train.visual_words_layer=9", f"output.dir='{tmp_path}'"])
    with pytest.raises(ValueError, match="train.visual_words_layer 9: an LLM layer in 1..4"):
        Trainer(config)
