"""The training loop: frozen encoders (live or from the encoder cache) -> CGMF -> LLM with LoRA -> cross-entropy on
the answer tokens; AdamW with linear warm-up and cosine decay; gradient accumulation to the global batch; bf16
autocast on GPU; DDP under torchrun; checkpoints, resume, loss log and evaluation on a held-out split."""
from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from spacemind_ros.pipeline.prompting import OPEN_TASK
from spacemind_ros.train.checkpoint import find_resume, load_checkpoint, prune_checkpoints, save_checkpoint
from spacemind_ros.train.config import TrainConfig
from spacemind_ros.train.data import IGNORE, Collator, EpochSampler, QADataset, Skipped, sampling_config
from spacemind_ros.train.distributed import (
    DistInfo,
    all_reduce_sum,
    gather_objects,
    init_distributed,
    parameters_digest,
    zero_loss,
)
from spacemind_ros.train.encoder_cache import EncoderCache, encoder_fingerprint
from spacemind_ros.train.category_objective import CategoryDataset, CategoryLoss, num_classes, token_grid
from spacemind_ros.train.geometry_objective import GeometryDataset, GeometryLoss, collate_geometry, epoch_span
from spacemind_ros.train.position_objective import PositionDataset, PositionLoss, baseline_errors
from spacemind_ros.train.loss_log import LossLog, plot_loss_curve
from spacemind_ros.train.media import FrameCache
from spacemind_ros.train.model_setup import build_training_model
from spacemind_ros.train.readers import read_dataset
from spacemind_ros.train.token_head import TokenHeadLoss
from spacemind_ros.train.visual_words import SampledTokenTargets, object_word_ids, visual_words_loss

log = logging.getLogger(__name__)


class AnswerLoss(nn.Module):
    """What DDP wraps: fused tokens -> LLM -> the cross-entropy summed over the answer tokens of the micro-batch (the
    trainer divides by the answer tokens of the whole global batch, see ``Trainer.loss_units``).

    Only answer positions go through the LM head (a 32-frame prompt is ~8k tokens; full logits would be
    8k x 152k floats). ``forward(None)`` returns a zero loss that touches every trainable weight, so a rank whose
    micro-batch was all skipped still joins DDP's gradient all-reduce.

    With ``words_weight`` (``train.visual_words_weight``), training adds ``words_weight`` x the visual-words loss
    (spacemind_ros.train.visual_words, a mean over visual tokens) x the micro-batch's answer tokens, so that after
    the trainer's division it weighs ``words_weight`` against the answer tokens' mean; ``pop_words`` hands the
    trainer what it added since the last call, so the logged ``loss`` stays the answers'."""

    def __init__(self, model, use_cgmf: bool = True, words_weight: float = 0.0, words_layer: int = -1,
                 tokenizer=None):
        super().__init__()
        self.model, self.use_cgmf = model, use_cgmf
        # The visual-words loss (spacemind_ros.train.visual_words), training only: the held-out loss stays the answer's.
        self.words_weight = words_weight
        layers = model.base.config.text_config.num_hidden_layers
        self.words_layer = words_layer if words_layer >= 0 else layers // 2
        if not 1 <= self.words_layer <= layers:
            raise ValueError(f"train.visual_words_layer {words_layer}: an LLM layer in 1..{layers} (-1 = the middle)")
        self.word_ids = object_word_ids(tokenizer) if words_weight else None
        self._words = [0.0, 0.0, 0]  # since pop_words: added to the loss, the words loss summed, micro-batches

    def forward(self, batch: dict | None, features: list | None = None) -> torch.Tensor:
        m = self.model
        if batch is None:
            return zero_loss(m)
        if self.use_cgmf:  # per sample: frame counts may differ; frame i attends to frame i only
            fused = torch.cat([m.cgmf(v, s, c) for v, s, c in features])
        else:
            fused = torch.cat([v for v, _, _ in features])
        embeds = m.embed(batch["input_ids"], fused)
        llm = m.base.model.language_model
        words = bool(self.words_weight) and self.training and batch.get("word_targets") is not None
        out = llm(inputs_embeds=embeds, attention_mask=batch["attention_mask"], output_hidden_states=words)
        hidden = out.last_hidden_state
        targets = batch["labels"][:, 1:]
        keep = targets != IGNORE
        logits = m.base.lm_head(hidden[:, :-1][keep]).float()
        loss = F.cross_entropy(logits, targets[keep], reduction="sum")
        if not words:
            return loss
        last = self.words_layer == len(out.hidden_states) - 1  # the last layer's output is already normed
        aux = visual_words_loss(out.hidden_states[self.words_layer], batch["input_ids"] == m.image_token_id,
                                batch["word_targets"], nn.Identity() if last else llm.norm, m.base.lm_head,
                                self.word_ids)
        term = self.words_weight * aux * int(keep.sum())  # a mean over visual tokens, scaled as the answers' sum
        self._words = [self._words[0] + float(term.detach()), self._words[1] + float(aux.detach()),
                       self._words[2] + 1]
        return loss + term

    def pop_words(self) -> tuple[float, float, int]:
        """(added to the loss, the visual-words loss summed, micro-batches) since the last call."""
        words, self._words = self._words, [0.0, 0.0, 0]
        return words[0], words[1], words[2]


def _official_scorer():
    """(score_official, question types) from the evaluation tool, or None where it is not installed."""
    try:
        from spacemind_ros.eval.scoring import QUESTION_TYPES, score_official
    except ImportError:
        return None
    return score_official, QUESTION_TYPES


def _plain(text: str) -> str:
    return text.strip().rstrip(".").strip().lower()


def lr_lambda(total_steps: int, warmup_steps: int):
    def f(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return f


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"bfloat16": torch.bfloat16, "float32": torch.float32}[name]


class Trainer:
    def __init__(self, config: TrainConfig, dist: DistInfo | None = None):
        self.cfg = config
        self.dist = dist or init_distributed(config.train.device)
        t = config.train
        device = self.dist.device
        self.weights_dtype = _dtype(t.weights_dtype, device)
        self.autocast = (t.precision == "bf16") or (t.precision == "auto" and device.type == "cuda")
        self.out = Path(config.output.dir)
        seed_all(t.seed)  # identical LoRA init on every rank
        self.model, self.processor = build_training_model(config.model, device, self.weights_dtype)
        self.use_cgmf = config.model.cgmf_variant != "none"
        self.geometry = t.objective == "geometry"
        self.category = t.objective == "category"
        self.position = t.objective == "position"
        self.dense = self.geometry or self.category or self.position  # scene bags' views and labels, no QA
        if self.geometry:
            vggt = self.model.vggt
            if t.point_weight and vggt.point_head is None:
                vggt.add_dense_heads()  # a fresh point head (and depth head where missing), saved with VGGT
            # a head trains exactly when VGGT trains and its loss counts (DDP wants no parameter without gradient)
            for head, weight in ((vggt.depth_head, t.depth_weight), (vggt.point_head, t.point_weight)):
                if head is not None:
                    head.requires_grad_(bool(weight) and "vggt" in config.model.trainable)
        self.train_vision = "vision" in config.model.trainable
        if t.gradient_checkpointing:
            self.model.base.model.language_model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
        self.loss_module = (GeometryLoss(self.model, t.depth_weight, t.point_weight, t.quaternion_sign) if self.geometry
                            else CategoryLoss(self.model, t.category_head, self.processor.tokenizer) if self.category
                            else PositionLoss(self.model) if self.position
                            else AnswerLoss(self.model, self.use_cgmf, t.visual_words_weight, t.visual_words_layer,
                                            self.processor.tokenizer))
        self.ddp = self.loss_module
        if self.dist.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp = DistributedDataParallel(self.loss_module,
                                               device_ids=[device.index] if device.type == "cuda" else None)
        # The loss module's own parameters too: the category and position stages' token heads train beside the model.
        self.trainable = [p for p in self.loss_module.parameters() if p.requires_grad]
        self.heads = {n: p for n, p in self.loss_module.named_parameters()
                      if p.requires_grad and not n.startswith("model.")}  # saved for resuming, never served
        self.optimizer = torch.optim.AdamW(self.trainable, lr=t.lr, betas=tuple(t.betas),
                                           weight_decay=t.weight_decay)
        self.sampling = sampling_config(config.data.sample_frames, config.data.drop_ends, config.data.min_frames)
        if not self.dense:  # the saved config tells the node and the tools how many frames a question gets
            self.model.config.query_frames = config.data.sample_frames - 2 * config.data.drop_ends
        self.cache = None
        if t.encoder_cache:
            fp = encoder_fingerprint(self.model, self.weights_dtype) + ("" if self.use_cgmf else "-novggt") \
                + ("-blank" if config.data.blank_frames else "")
            self.cache = EncoderCache(t.encoder_cache, fp)
        self.skipped: list[Skipped] = []
        self.last_eval_score: float | None = None
        self.last_eval_unscorable = 0  # held-out records the official scorer cannot score (ground truth 0)
        self.cache_hits = self.cache_misses = 0
        self.frame_cache = FrameCache(config.data.frame_cache_mb << 20)
        self.word_targets = None
        if t.visual_words_weight and not self.dense:  # the sampled frames' class shares, read once a scene
            self.word_targets = SampledTokenTargets(token_grid(self.model.tokens_per_frame), num_classes())
        self.train_records, self.eval_records = self._read_data()
        self.dataset = self._dataset(self.train_records)
        self.collator = collate_geometry if self.dense else Collator(self.processor.tokenizer.pad_token_id)
        per_step = t.micro_batch * self.dist.world_size
        if t.global_batch % per_step:
            raise ValueError(f"train.global_batch {t.global_batch} is not a multiple of micro_batch x world size "
                             f"({t.micro_batch} x {self.dist.world_size})")
        self.accum = t.global_batch // per_step
        self.sampler = EpochSampler(len(self.dataset), self.dist.world_size, self.dist.rank, t.seed)
        self.steps_per_epoch = self.sampler.per_rank // (t.micro_batch * self.accum)
        if self.steps_per_epoch < 1:
            raise ValueError(f"{len(self.dataset)} training samples are fewer than one global batch "
                             f"({t.global_batch}); lower train.global_batch")
        self.total_steps = t.max_steps or math.ceil(t.epochs * self.steps_per_epoch)
        warmup = int(t.warmup_ratio * self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(self.total_steps, warmup))
        self.step = self.epoch = self.step_in_epoch = 0
        self.samples_seen = 0
        self.history: list[dict] = []
        resume = find_resume(config.output.resume, self.out)
        if resume is not None:
            state = load_checkpoint(self.dist, resume, self.model, self.optimizer, self.scheduler, self.heads)
            self.step, self.epoch, self.step_in_epoch = state["step"], state["epoch"], state["step_in_epoch"]
            self.samples_seen = state.get("samples_seen", 0)
            self._log(f"resumed from {resume} at step {self.step} (epoch {self.epoch}, step {self.step_in_epoch} "
                      "of the epoch)")
        else:
            seed_all(t.seed + self.dist.rank)  # dropout differs per rank, like separate GPUs would
        self.resumed_from = resume

    # -- data -------------------------------------------------------------------------------------------------------
    def _read_data(self):
        train, evals = [], []
        self.data_reports = []
        for split, specs in (("train", self.cfg.data.train), ("eval", self.cfg.data.eval)):
            for spec in specs:
                records, skipped, report = read_dataset(spec)
                (train if split == "train" else evals).extend(records)
                self.data_reports.append(dict(report.as_dict(), split=split))
                self._log(f"{split} data: {report.line()}")
                if split == "train":
                    self._note_skipped([Skipped("", s.source, s.reason) for s in skipped], "records")
        if not evals and self.cfg.data.eval_fraction > 0:  # deterministic hold-out by position in a seeded order
            order = random.Random(self.cfg.train.seed).sample(range(len(train)), len(train))
            n = max(1, int(len(train) * self.cfg.data.eval_fraction))
            held = set(order[:n])
            evals = [r for i, r in enumerate(train) if i in held]
            train = [r for i, r in enumerate(train) if i not in held]
        if not train:
            raise ValueError("no training records: check data.train (every record may have been skipped)")
        self._log(f"{len(train)} training and {len(evals)} held-out samples")
        return train, evals

    def _dataset(self, records, training: bool = True):
        if not self.dense:  # the visual-words targets train only (the held-out loss is the answers')
            return QADataset(records, self.processor, self.sampling, self.cache, self.frame_cache,
                             self.cfg.data.blank_frames, self.word_targets if training else None)
        bags = list(dict.fromkeys(r.media for r in records if r.media_kind == "bag"))  # one sample per scene
        if records and not bags:
            raise ValueError(f"train.objective {self.cfg.train.objective} needs scene bags (data entries of format "
                             "scenes)")
        t = self.cfg.train
        if self.category or self.position:
            views = CategoryDataset if self.category else PositionDataset
            dataset = views(bags, self.processor, self.model.tokens_per_frame, t.geometry_frames, t.seed)
        else:
            dataset = GeometryDataset(bags, self.processor, t.geometry_frames, t.seed)
            dataset.points = t.point_weight > 0
        dataset.span = t.geometry_span  # the evaluation's; training follows the curriculum (_loader)
        return dataset

    def _note_skipped(self, skipped: list[Skipped], what: str = "samples") -> None:
        for s in skipped:
            self.skipped.append(s)
            log.warning("skipped %s %s (%s): %s", what[:-1], s.id, s.file, s.reason)

    def _log(self, msg: str) -> None:
        if self.dist.is_main:
            log.info(msg)

    def _autocast(self):
        if not self.autocast:
            return contextlib.nullcontext()
        return torch.autocast(self.dist.device.type, dtype=torch.bfloat16)

    # -- one micro-batch ------------------------------------------------------------------------------------------
    def features(self, batch: dict) -> list:
        """Per sample (visual [N, M_v, d_v], patch [N, M_s, d_s], camera [N, 1, d_s]) on the device: read from the
        cache, or computed by the frozen encoders (and then cached)."""
        m, device, out = self.model, self.dist.device, []
        for s in batch["samples"]:
            if "visual" in s:
                self.cache_hits += 1  # counted here: DataLoader workers' own counters never reach this process
                out.append(tuple(s[k].to(device) for k in ("visual", "patch_tokens", "camera_tokens")))
                continue
            # Placement decides the encoders' device, dtype and VGGT's autocast; gradients only into what trains.
            with torch.no_grad() if not self.train_vision else contextlib.nullcontext():
                visual = m.visual_tokens(s["pixel_values"])
            with torch.no_grad():
                if self.use_cgmf:
                    sp = m.spatial_tokens(s["vggt_pixels"][None])
                    patch, camera = sp.patch_tokens[0], sp.camera_tokens[0]
                else:
                    patch = camera = visual.new_zeros((visual.shape[0], 0, 0))
            if self.cache is not None and s.get("cache_key"):
                self.cache_misses += 1
                self.cache.save(s["cache_key"], visual, patch, camera)
            out.append((visual, patch, camera))
        return out

    def loss_units(self, batch: dict) -> int:
        """What the loss is a mean over: the answer tokens of a QA batch (labels other than IGNORE, shifted as the
        loss shifts them), the samples of a dense-objective batch; 0 when every sample was skipped."""
        if not batch.get("samples"):
            return 0
        if self.dense:
            return len(batch["samples"])
        return int((batch["labels"][:, 1:] != IGNORE).sum())

    def micro_loss(self, batch: dict, module=None) -> torch.Tensor:
        """The loss summed over the batch's units (``loss_units``)."""
        module = module or self.ddp
        if not batch.get("samples"):
            return module(None)
        if self.dense:
            return module(batch)
        features = self.features(batch)
        on = {k: batch[k].to(self.dist.device) for k in ("input_ids", "labels", "attention_mask")}
        if "word_targets" in batch:
            on["word_targets"] = batch["word_targets"]
        with self._autocast():
            return module(on, features)

    # -- the loop -------------------------------------------------------------------------------------------------
    def _loader(self, start_sample: int) -> DataLoader:
        self.sampler.set_epoch(self.epoch, start_sample)
        if self.dense:
            self.dataset.epoch = self.epoch  # each epoch draws other views of every scene
            t = self.cfg.train
            self.dataset.span = (t.geometry_span_min, t.geometry_span) if t.geometry_span_min is not None else \
                epoch_span(self.epoch, self.total_steps / self.steps_per_epoch, t.geometry_span, t.geometry_span_from)
        return DataLoader(self.dataset, batch_size=self.cfg.train.micro_batch, sampler=self.sampler,
                          collate_fn=self.collator, num_workers=self.cfg.data.num_workers,
                          generator=torch.Generator().manual_seed(self.cfg.train.seed))  # keeps global RNG untouched

    def train_mode(self) -> None:
        self.loss_module.train()
        trainable = set(self.cfg.model.trainable)
        if "vggt" not in trainable:  # frozen encoders never see train-mode behaviour
            self.model.vggt.eval()
        if "vision" not in trainable:
            self.model.base.model.vision_tower.eval()

    def fit(self) -> dict:
        cfg, t = self.cfg, self.cfg.train
        logger = LossLog(self.out, cfg.output.tensorboard, append=self.resumed_from is not None) \
            if self.dist.is_main else None
        bar = None
        if self.dist.is_main and cfg.output.progress_bar:
            from tqdm import tqdm

            bar = tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True)
        self.train_mode()
        started, samples_at_start = time.perf_counter(), self.samples_seen
        window_t, window_samples = time.perf_counter(), 0
        while self.step < self.total_steps:
            per_step = t.micro_batch * self.accum
            batches = iter(self._loader(self.step_in_epoch * per_step))
            while self.step_in_epoch < self.steps_per_epoch and self.step < self.total_steps:
                micro = [next(batches) for _ in range(self.accum)]
                skipped_now = [x for batch in micro for x in batch["skipped"]]
                loss_sum, units = self.accumulate(micro)
                self._note_skipped(skipped_now)
                grad_norm = torch.nn.utils.clip_grad_norm_(self.trainable, t.max_grad_norm
                                                           if t.max_grad_norm > 0 else float("inf"))
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                self.step_in_epoch += 1
                words = self.loss_module.pop_words() if isinstance(self.loss_module, AnswerLoss) else (0.0, 0.0, 0)
                loss_sum, n_units, n_samples, n_skipped, words_term, words_sum, words_n = all_reduce_sum(
                    self.dist, [loss_sum, units, per_step - len(skipped_now), len(skipped_now), *words])
                self.samples_seen += int(n_samples)
                window_samples += n_samples
                row = {"step": self.step, "epoch": self.epoch + self.step_in_epoch / self.steps_per_epoch,
                       "loss": (loss_sum - words_term) / n_units if n_units else float("nan"),  # the answers'
                       "lr": self.scheduler.get_last_lr()[0], "grad_norm": float(grad_norm),
                       "samples": self.samples_seen, "skipped": int(n_skipped)}
                if words_n:  # the visual-words loss, mean over this step's micro-batches
                    row["words_loss"] = words_sum / words_n
                if t.eval_every and self.step % t.eval_every == 0 and self.eval_records:
                    row["eval_loss"] = self.evaluate()
                    row["eval_score"] = self.last_eval_score
                self.history.append(row)
                if logger is not None and (self.step % cfg.output.log_every == 0 or "eval_loss" in row):
                    now = time.perf_counter()
                    row["samples_per_s"] = window_samples / max(now - window_t, 1e-9)
                    window_t, window_samples = now, 0
                    logger.log(row)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}")
                if cfg.output.save_every and self.step % cfg.output.save_every == 0 and self.step < self.total_steps:
                    self.save(self.out / f"checkpoint-{self.step:06d}")
            if self.step_in_epoch >= self.steps_per_epoch:
                self.epoch, self.step_in_epoch = self.epoch + 1, 0
        elapsed = time.perf_counter() - started
        eval_loss = self.evaluate() if self.eval_records else None
        final = self.save(self.out / "final")
        if bar is not None:
            bar.close()
        digests = gather_objects(self.dist, parameters_digest(
            {n: p for n, p in self.model.named_parameters() if p.requires_grad}))
        skipped_all = [s for part in gather_objects(self.dist, [s.__dict__ for s in self.skipped]) for s in part]
        summary = {
            "steps": self.step, "epochs": self.epoch + self.step_in_epoch / self.steps_per_epoch,
            "samples_seen": self.samples_seen, "world_size": self.dist.world_size, "accumulation": self.accum,
            "train_samples": len(self.train_records), "eval_samples": len(self.eval_records),
            "final_loss": self.history[-1]["loss"] if self.history else None, "eval_loss": eval_loss,
            "eval_score": self.last_eval_score, "eval_unscorable": self.last_eval_unscorable,
            "seconds": elapsed, "samples_per_s": (self.samples_seen - samples_at_start) / max(elapsed, 1e-9),
            "skipped": len(skipped_all), "skipped_samples": skipped_all[:200], "final_checkpoint": str(final),
            "data": self.data_reports,
            "replica_digests": digests, "replicas_identical": len(set(digests)) == 1,
            "encoder_cache": None if self.cache is None else {
                "folder": str(self.cache.folder), "entries": self.cache.entries(),
                "size_bytes": self.cache.size_bytes(), "hits": self.cache_hits, "misses": self.cache_misses},
        }
        if self.position and eval_loss is not None and self.dist.is_main:  # what the score is worth
            held = self._dataset(self.eval_records[: t.eval_max_samples])
            summary["position_baselines"] = baseline_errors(self.dataset.bags, held.bags, self.model.tokens_per_frame,
                                                            t.geometry_frames, t.seed, t.geometry_span)
        if logger is not None:
            if eval_loss is not None:  # the final evaluation closes the eval curve
                logger.log({"step": self.step, "eval_loss": eval_loss, "eval_score": self.last_eval_score})
            logger.close()
            plot_loss_curve(logger.csv_path, self.out / "loss_curve.png")
            (self.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
            if self.cache is not None:
                self._log(f"encoder cache: {summary['encoder_cache']['entries']} samples, "
                          f"{summary['encoder_cache']['size_bytes'] / 1e6:.1f} MB in {self.cache.folder}")
            self._log(f"done: {self.step} steps, {summary['skipped']} skipped sample(s), final checkpoint {final}")
        return summary

    def accumulate(self, micro: list[dict]) -> tuple[float, int]:
        """Forward and backward over one global batch's micro-batches (this rank's); returns (loss summed over this
        rank's units, units). The loss is normalised by the units of the whole global batch, counted over every
        micro-batch and rank before the first backward, so 1 x 16, 4 x 4 and 2 ranks x 8 give the same gradient,
        and a skipped sample or micro-batch only removes its own units. (Hence a global batch's micro-batches are
        read before its first backward, as transformers' Trainer does to count its items.)"""
        units = [self.loss_units(batch) for batch in micro]
        (total,) = all_reduce_sum(self.dist, [sum(units)])
        # DDP averages gradients over ranks: the world size undoes that mean, the total makes it the global one.
        scale = self.dist.world_size / total if total else 0.0
        loss_sum = 0.0
        for k, batch in enumerate(micro):
            sync = k == len(micro) - 1 or not self.dist.distributed
            with contextlib.nullcontext() if sync else self.ddp.no_sync():
                loss = self.micro_loss(batch)
                (loss * scale).backward()
            loss_sum += float(loss.detach())
        return loss_sum, sum(units)

    @torch.no_grad()
    def evaluate(self) -> float:
        """Answer-token mean loss (per sample for the dense objectives) on the held-out split (sharded over ranks).
        Where the evaluation tool's official VSI-Bench scorer is installed (``spacemind_ros.eval.scoring``), each
        VSI-Bench question is also answered greedily (16 tokens, like the benchmark) and scored; the mean lands in
        ``self.last_eval_score`` (the category stage: the share of held-out tokens whose commonest class the head
        names; the position stage: the mean distance in metres between a token's predicted and true position in the
        first view's frame); open records score 1 for an exact answer (case and a final period aside)."""
        records = self.eval_records[: self.cfg.train.eval_max_samples]
        dataset = self._dataset(records, training=False)
        scorer = _official_scorer() if self.cfg.train.eval_generate and not self.dense else None
        self.loss_module.eval()
        total = units = score = scored = unscorable = 0.0
        for i in range(self.dist.rank, len(dataset), self.dist.world_size):
            batch = self.collator([dataset[i]])
            self._note_skipped(batch["skipped"])
            if not batch["samples"]:
                continue
            units += self.loss_units(batch)
            if isinstance(self.loss_module, TokenHeadLoss):  # loss and the head's score per token (docstring)
                loss, value, tokens = self.loss_module.evaluate(batch)
                total, score, scored = total + loss, score + value, scored + tokens
                continue
            total += float(self.micro_loss(batch, self.loss_module))
            rec = records[i]
            if self.dense or not self.cfg.train.eval_generate:
                continue
            if rec.task == OPEN_TASK:  # free-form answers: exact match, case and a final period aside
                score += float(_plain(self.answer(batch)) == _plain(rec.answer))
                scored += 1
            elif scorer is not None and rec.task in scorer[1]:
                try:
                    score += scorer[0](rec.task, self.answer(batch), rec.answer)
                    scored += 1
                except ValueError as exc:  # e.g. a numerical ground truth of 0: no relative error exists
                    unscorable += 1
                    log.warning("held-out record %s (%s) not scored: %s", rec.id, rec.source, exc)
        self.train_mode()
        total, units, score, scored, unscorable = all_reduce_sum(self.dist, [total, units, score, scored, unscorable])
        self.last_eval_score = score / scored if scored else None
        self.last_eval_unscorable = int(unscorable)
        return total / units if units else float("nan")

    @torch.no_grad()
    def answer(self, batch: dict, max_new_tokens: int = 16) -> str:
        """Greedy answer text for a one-sample batch: the prompt (labels == -100) is fed, the answer generated."""
        m = self.model
        (visual, patch, camera), = self.features(batch)
        prompt_len = int((batch["labels"][0] != IGNORE).nonzero()[0])
        ids = batch["input_ids"][:, :prompt_len].to(self.dist.device)
        with self._autocast():
            fused = m.cgmf(visual, patch, camera) if self.use_cgmf else visual
            new = m.greedy_decode(m.embed(ids, fused), None, max_new_tokens)
        return self.processor.decode(new[0])

    def save(self, folder: Path) -> Path:
        model_cfg = self.cfg.model
        save_encoders = model_cfg.save_encoders
        if save_encoders is None:  # weights that exist nowhere else travel with the checkpoint
            save_encoders = (model_cfg.preset == "tiny" and not model_cfg.init_from) or model_cfg.preset == "small" \
                or bool(set(model_cfg.trainable) - {"cgmf", "lora"})
        state = {"step": self.step, "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                 "samples_seen": self.samples_seen, "config": self.cfg.to_dict()}
        path = save_checkpoint(self.dist, folder, self.model, self.optimizer, self.scheduler, state, save_encoders,
                               self.heads)
        if self.dist.is_main and folder.name.startswith("checkpoint-"):
            prune_checkpoints(self.out, self.cfg.output.keep_last)
        self._log(f"checkpoint written: {path}")
        return path
