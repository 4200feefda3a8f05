"""The one training loop every trainer variant runs, for every model family.

Per step: index a batch, the model's forward pass under autocast (its named terms), the weighted loss,
backward, gradient norm (and clipping), a single host sync that checks every term for NaN/Inf (averaged
over processes when distributed), optimizer and LR-scheduler step. Per epoch: validation,
``checkpoints/last`` and, when the validation loss improves, ``checkpoints/best``.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from remvae.core.checkpoint import (
    Checkpoint,
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    read_state,
    remove_checkpoint,
    save_checkpoint,
)
from remvae.core.distributed import (
    DistributedContext,
    all_reduce_sum,
    barrier,
    destroy_process_group,
    device_for,
    environment_context,
    init_process_group,
)
from remvae.core.model import Batch, MultimodalModel
from remvae.core.progress import progress as progress_bar
from remvae.core.runfolder import RunFolder, write_json
from remvae.core.trainer import NonFiniteLossError, Trainer, TrainResult
from remvae.playground.trainers.batches import (
    TensorData,
    batches_per_epoch,
    epoch_batches,
    ordered_batches,
)
from remvae.playground.trainers.config import TrainerConfig
from remvae.playground.trainers.extension import extension_problem
from remvae.playground.trainers.objective import Objective
from remvae.playground.trainers.optim import build_lr_scheduler, build_optimizer
from remvae.playground.trainers.phases import PhaseClock
from remvae.playground.trainers.records import MetricsLog, environment
from remvae.playground.trainers.runtime import (
    RNGSnapshot,
    autocast,
    check_precision,
    resolve_device,
    restore_rng,
    seed_sequence,
)
from remvae.playground.trainers.tracking import Trackers, open_trackers
from remvae.text.tokenizer import Tokenizer

RESUME_KEYS = ("position", "epoch_loss_sum", "epoch_samples", "best_metric", "elapsed", "rng", "world_size",
               "batch_size", "train_size", "batches_per_epoch", "total_steps")


@dataclass
class Progress:
    """Where training stands; saved in ``state.json`` and restored on resume."""

    step: int = 0
    epoch: int = 0  # completed epochs
    position: int = 0  # batches done in the current epoch (per process)
    epoch_loss_sum: float = 0.0
    epoch_samples: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None  # the epoch (1-based) checkpoints/best was written after
    stopped_early: bool = False  # early stopping ended the run before its configured length
    elapsed: float = 0.0  # training seconds of earlier fit calls of this run


@dataclass
class _Interval:
    """Timing of the steps since the last log line."""

    seconds: float = 0.0
    samples: int = 0
    total_seconds: float = 0.0
    total_samples: int = 0

    def add(self, seconds: float, samples: int) -> None:
        self.seconds += seconds
        self.samples += samples
        self.total_seconds += seconds
        self.total_samples += samples

    def rate(self) -> float:
        rate = self.samples / self.seconds if self.seconds > 0 else 0.0
        self.seconds, self.samples = 0.0, 0
        return rate


@dataclass
class _Session:
    """The objects one ``fit`` call trains with."""

    net: nn.Module
    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    noise: torch.Generator
    total_steps: int
    per_epoch: int
    train_size: int
    phases: PhaseClock
    progress: Progress = field(default_factory=Progress)
    rng: RNGSnapshot | None = None  # the random streams as they were after the last completed step
    last_saved_step: int = -1
    final_loss: float | None = None


class LoopTrainer(Trainer):
    """Trains any :class:`MultimodalModel` family on the weighted sum of its named loss terms."""

    def __init__(
        self,
        name: str,
        config: TrainerConfig,
        objective: Objective,
        model: MultimodalModel,
        run_dir: str | Path | RunFolder,
        tokenizer: Tokenizer | None = None,
        say: Callable[[str], None] = lambda message: print(f"remvae: {message}", flush=True),
    ) -> None:
        self.name = name
        self.config = config
        self.objective = objective
        self.model = model
        self.run = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
        self.run_dir = self.run.root
        self.tokenizer = tokenizer
        self.say = say
        if "text" in model.modalities and tokenizer is None:
            raise ValueError(f"trainer {name!r}: a model that reads text needs tokenizer=")
        self.context: DistributedContext = environment_context()
        self.device = device_for(self.context, resolve_device(config.device))
        check_precision(config.precision, self.device)

    # ------------------------------------------------------------------------------------ set-up

    def _prepare(self, dataset: Dataset, name: str) -> TensorData:
        data = TensorData.from_dataset(
            dataset, self.model.modalities, self.tokenizer, max_length=self.model.max_text_length,
            image_shape=self.model.image_shape, name=name,
        )
        return data.to(self.device)

    def _session(self, train: TensorData) -> _Session:
        cfg = self.config
        per_epoch = batches_per_epoch(train.size, cfg.batch_size, self.context, cfg.drop_last)
        if per_epoch == 0:
            raise ValueError(
                f"train_set has {train.size} items: not one batch of {cfg.batch_size} per process "
                f"({self.context.world_size} processes)"
            )
        total_steps = cfg.epochs * per_epoch if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * per_epoch)
        model = self.model.to(self.device).train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = build_optimizer(
            cfg.optimizer.name, params, cfg.optimizer.lr, cfg.optimizer.weight_decay, cfg.optimizer.options,
            self.device.type,
        )
        scheduler = build_lr_scheduler(
            cfg.lr_scheduler.name, cfg.lr_scheduler.options, optimizer, cfg.optimizer.lr, total_steps
        )
        scaler = torch.amp.GradScaler(self.device.type) if cfg.precision == "fp16" else None
        noise = torch.Generator(device=self.device).manual_seed(seed_sequence(cfg.seed, self.context.rank, 1))
        torch.manual_seed(seed_sequence(cfg.seed, self.context.rank, 2))  # dropout and other global draws
        phases = PhaseClock(cfg.time_phases, self.device)
        return _Session(model, params, optimizer, scheduler, scaler, noise, total_steps, per_epoch, train.size, phases)

    def _resume_candidates(self) -> list[Path]:
        """``last``, then ``best`` and the kept step checkpoints, newest first: where a resume may start."""
        found = [find_checkpoint(self.run.last), find_checkpoint(self.run.best)]
        found += [find_checkpoint(path) for path in reversed(self.run.step_checkpoints())]
        return [path for path in found if path is not None]

    def _load_for_resume(self) -> Checkpoint | None:
        """The newest readable checkpoint to resume from (saying so when ``last`` is damaged), or ``None``."""
        problems: list[str] = []
        candidates = self._resume_candidates()
        for path in candidates:
            try:
                checkpoint = load_checkpoint(path, map_location=self.device)
            except CheckpointError as error:
                problems.append(str(error))
                continue
            missing = [key for key in RESUME_KEYS if key not in checkpoint.state]
            if missing or checkpoint.optimizer is None:
                problems.append(f"{path}: cannot resume from it (missing {missing or ['optimizer.pt']})")
                continue
            if problems:
                self.say(f"{problems[0]}; resuming from {path} (step {checkpoint.step}) instead")
            return checkpoint
        if problems:
            raise CheckpointError(
                f"{problems[0]}; no other checkpoint to resume from: start over with `remvae run ARGS --fresh` "
                "(the damaged run is kept in previous/)"
            )
        return None

    def _resume(self, session: _Session) -> None:
        checkpoint = self._load_for_resume()
        if checkpoint is None:
            return
        state, found = checkpoint.state, checkpoint.path
        recorded, current = state.get("fingerprint"), self.run.fingerprint()
        if recorded is not None and current is not None and recorded != current:
            raise CheckpointError(
                f"{found}: was trained with another config (fingerprint {recorded[:12]}, the run's is {current[:12]}); "
                "start over with `remvae run ARGS --fresh` or train into a new run folder"
            )
        expected = {"world_size": self.context.world_size, "batch_size": self.config.batch_size,
                    "train_size": session.train_size, "batches_per_epoch": session.per_epoch}
        for key, value in expected.items():
            if state[key] != value:
                raise ValueError(f"resume: {found} was written with {key}={state[key]}, this run has {value}")
        progress = Progress(**{key: state[key] for key in Progress.__dataclass_fields__ if key in state})
        problem = extension_problem(
            self.config, self.objective.schedule, state["total_steps"], session.total_steps, progress.step
        )
        if problem is not None:
            raise ValueError(
                f"trainer.config.epochs: the run was trained towards {state['total_steps']} steps and now has "
                f"{session.total_steps}, but {problem}, so its first {progress.step} steps are not those of the new "
                "run; keep the old length, or start over with `remvae run ARGS --fresh`"
            )
        self.model.load_state_dict(checkpoint.model)
        session.optimizer.load_state_dict(checkpoint.optimizer["optimizer"])
        if session.scheduler is not None:
            if state["total_steps"] == session.total_steps and checkpoint.optimizer.get("lr_scheduler") is not None:
                session.scheduler.load_state_dict(checkpoint.optimizer["lr_scheduler"])
            else:  # a longer run whose schedule does not depend on the length: the same steps again
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    for _ in range(progress.step):
                        session.scheduler.step()
        if session.scaler is not None and checkpoint.optimizer.get("grad_scaler") is not None:
            session.scaler.load_state_dict(checkpoint.optimizer["grad_scaler"])
        session.progress = progress
        session.last_saved_step = progress.step
        rank = self.context.rank
        if rank < len(state["rng"]):
            restore_rng(state["rng"][rank], session.noise)
        else:  # saved by Ctrl-C in a distributed run: only rank 0's streams were recorded
            step = session.progress.step
            session.noise.manual_seed(seed_sequence(self.config.seed, rank, 1, step))
            torch.manual_seed(seed_sequence(self.config.seed, rank, 2, step))

    # ------------------------------------------------------------------------------------ training

    def fit(self, train_set: Dataset, val_set: Dataset | None = None) -> TrainResult:
        threads = torch.get_num_threads()
        created = init_process_group(self.context, self.device)
        try:
            result = self._fit(train_set, val_set)
            if created:  # leave together: no process tears down its connections while a peer still uses them
                barrier(self.context)
            return result
        finally:
            destroy_process_group(created)
            torch.set_num_threads(threads)

    def _fit(self, train_set: Dataset, val_set: Dataset | None) -> TrainResult:
        cfg, main = self.config, self.context.is_main
        if cfg.num_threads is not None:
            torch.set_num_threads(cfg.num_threads)
        if val_set is None:
            if cfg.early_stopping is not None:
                raise ValueError("trainer.config.early_stopping: needs a validation set (data.validation_length > 0)")
            self.say("no validation set: checkpoints/best is chosen by the training loss")
        train = self._prepare(train_set, "train_set")
        val = self._prepare(val_set, "val_set") if val_set is not None else None
        session = self._session(train)
        if cfg.resume:
            self._resume(session)
        resumed_from, elapsed_before = session.progress.step, session.progress.elapsed
        session.rng = RNGSnapshot.take(session.noise)
        if self.context.enabled:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            session.net = DistributedDataParallel(session.net, device_ids=device_ids)
        if cfg.compile:
            session.net = torch.compile(session.net)
        trackers = Trackers()
        if main:
            recorded = self.run.recorded_config() or {}
            trackers = open_trackers(cfg.logging, self.run, str(recorded.get("name") or self.run.root.name),
                                     resumed=resumed_from > 0, after_step=resumed_from)
            trackers.log_params(recorded or {"trainer": {"name": self.name, "config": cfg.model_dump(mode="json")}})
        log = MetricsLog(self.run, after_step=resumed_from, trackers=trackers) if main else None
        if main:
            write_json(self.run.environment, environment(self.device, self.context.world_size))
        timing = _Interval()
        started = time.perf_counter()
        try:
            with trackers:
                self._epochs(session, train, val, log, timing)
        except KeyboardInterrupt:
            self._save(session, best=False, gather=False)
            raise
        except NonFiniteLossError as error:
            raise error.after(self._saved_state()) from None
        finally:
            if log is not None:
                log.close()
        seconds = time.perf_counter() - started
        progress = session.progress
        if progress.step != session.last_saved_step:
            self._save(session, best=False)
        rate = timing.total_samples / timing.total_seconds if timing.total_seconds > 0 else 0.0
        if main:
            write_json(self.run.train_summary, {
                "trainer": self.name,
                "steps": progress.step,
                "epochs": progress.epoch,
                "train_seconds": seconds,
                "total_train_seconds": elapsed_before + seconds,
                "samples_per_s": rate,
                "device": str(self.device),
                "num_threads": torch.get_num_threads(),
                "world_size": self.context.world_size,
                "precision": cfg.precision,
                "final_loss": session.final_loss,
                "best_metric": progress.best_metric,
                "selection": {
                    "checkpoint": "best",
                    "split": "validation" if val is not None else "train",
                    "metric": "validation loss (beta = 1, fixed noise)" if val is not None else "mean training loss",
                    "best_epoch": progress.best_epoch,
                    "epochs": progress.epoch,
                    "stopped_early": progress.stopped_early,
                },
                "resumed_from_step": resumed_from,
            })
        best = self.run.best
        return TrainResult(
            steps=progress.step,
            epochs=progress.epoch,
            train_seconds=seconds,
            samples_per_s=rate,
            final_loss=session.final_loss,
            best_metric=progress.best_metric,
            last_checkpoint=self.run.last if main else None,
            best_checkpoint=best if main and best.is_dir() else None,
        )

    def _epochs(
        self, session: _Session, train: TensorData, val: TensorData | None, log: MetricsLog | None, timing: _Interval
    ) -> None:
        cfg, progress = self.config, session.progress
        fit_started = time.perf_counter()
        elapsed_before = progress.elapsed
        while progress.epoch < cfg.epochs and progress.step < session.total_steps and not progress.stopped_early:
            batches = epoch_batches(train.size, cfg.batch_size, cfg.seed, progress.epoch, self.context, cfg.drop_last)
            bar = progress_bar(
                len(batches), f"epoch {progress.epoch + 1}/{cfg.epochs}", quiet=cfg.quiet or not self.context.is_main,
                initial=progress.position, unit="step", leave=False,
            )
            try:
                for index in batches[progress.position :]:
                    if progress.step >= session.total_steps:
                        break
                    tick = time.perf_counter()
                    session.phases.start()
                    batch = train.batch(index)
                    session.phases.mark("data")
                    beta = self.objective.beta(progress.step, session.total_steps)
                    lr = session.optimizer.param_groups[0]["lr"]
                    values = self._step(session, batch, beta)
                    session.rng = RNGSnapshot.take(session.noise)
                    samples = batch.size * self.context.world_size
                    timing.add(time.perf_counter() - tick, samples)
                    progress.step += 1
                    progress.position += 1
                    progress.epoch_loss_sum += values["loss"] * batch.size
                    progress.epoch_samples += batch.size
                    progress.elapsed = elapsed_before + time.perf_counter() - fit_started
                    session.final_loss = values["loss"]
                    bar.update(1)
                    if progress.step % cfg.log_every == 0 or progress.step == session.total_steps:
                        record = {"step": progress.step,
                                  "epoch": round(progress.epoch + progress.position / len(batches), 4),
                                  **values, "beta": beta, "lr": lr, "samples_per_s": timing.rate(),
                                  "time": progress.elapsed, **session.phases.record()}
                        if log is not None:
                            log.log(record)
                        bar.set_postfix_str(_postfix(record), refresh=False)
                    every = cfg.checkpoint.every_steps
                    if every is not None and progress.step % every == 0 and progress.position < len(batches):
                        self._save(session, best=False)
            finally:
                bar.close()
            if progress.position < len(batches):  # stopped by max_steps inside the epoch
                break
            metric = self._validate(session, val, log) if val is not None else (
                progress.epoch_loss_sum / max(progress.epoch_samples, 1)
            )
            progress.epoch += 1
            progress.position, progress.epoch_loss_sum, progress.epoch_samples = 0, 0.0, 0
            improved = progress.best_metric is None or metric < progress.best_metric
            if improved:
                progress.best_metric, progress.best_epoch = metric, progress.epoch
            patience = cfg.early_stopping
            if patience is not None and progress.best_epoch is not None and progress.epoch - progress.best_epoch >= patience:
                progress.stopped_early = True
                self.say(f"early stopping after epoch {progress.epoch}: no better validation loss for {patience} "
                         f"epochs (best: epoch {progress.best_epoch})")
            self._save(session, best=improved and cfg.checkpoint.keep_best)

    def _step(self, session: _Session, batch: Batch, beta: float) -> dict[str, float]:
        """One optimizer step; returns the loss, its terms and the gradient norm as floats."""
        with autocast(self.config.precision, self.device):
            terms = session.net(batch, terms=self.objective.wanted, generator=session.noise).terms
            loss = self.objective.loss(terms, beta)
        session.phases.mark("forward")
        session.optimizer.zero_grad(set_to_none=True)
        if session.scaler is not None:
            session.scaler.scale(loss).backward()
            session.scaler.unscale_(session.optimizer)
        else:
            loss.backward()
        session.phases.mark("backward")
        norm = torch.nn.utils.get_total_norm([p.grad for p in session.params if p.grad is not None])
        names = ["loss", *terms, "grad_norm"]
        stacked = torch.stack([loss.detach().float(), *(t.detach().float() for t in terms.values()), norm.float()])
        if self.context.enabled:
            stacked = all_reduce_sum(stacked, self.context) / self.context.world_size
        values = dict(zip(names, stacked.tolist()))
        self._check_finite(session.progress.step + 1, values, check_grad=session.scaler is None)
        if self.config.clip_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(session.params, self.config.clip_norm, norm)
        if session.scaler is not None:
            session.scaler.step(session.optimizer)
            session.scaler.update()
        else:
            session.optimizer.step()
        if session.scheduler is not None:
            session.scheduler.step()
        session.phases.mark("optimizer")
        return values

    def _check_finite(self, step: int, values: dict[str, float], check_grad: bool) -> None:
        """Name the first non-finite term (a term before the total it makes non-finite)."""
        order = [name for name in self.model.term_names if name in values] + ["loss"]
        order += ["grad_norm"] if check_grad else []
        for name in order:
            if not math.isfinite(values[name]):
                raise NonFiniteLossError(step, name, values[name])

    @torch.no_grad()
    def _validate(self, session: _Session, val: TensorData, log: MetricsLog | None) -> float:
        """Weighted loss on ``val`` with beta = 1 and fixed reparametrisation noise, averaged over items."""
        model = self.model
        model.eval()
        generator = torch.Generator(device=self.device).manual_seed(seed_sequence(self.config.seed, 0, 3))
        names = ["loss", *model.computed_terms(self.objective.wanted)]
        sums = torch.zeros(len(names) + 1, dtype=torch.float64, device=self.device)
        for index in ordered_batches(val.size, self.config.batch_size, self.context):
            batch = val.batch(index)
            with autocast(self.config.precision, self.device):
                terms = model(batch, terms=self.objective.wanted, generator=generator).terms
                loss = self.objective.loss(terms, 1.0)
            values = torch.stack([loss, *(terms[name] for name in names[1:])]).double()
            sums[:-1] += values * batch.size
            sums[-1] += batch.size
        model.train()
        sums = all_reduce_sum(sums, self.context)
        averages = dict(zip(names, (sums[:-1] / sums[-1].clamp(min=1.0)).tolist()))
        if log is not None:
            log.log_validation({"step": session.progress.step, "epoch": session.progress.epoch + 1, **averages})
        return averages["loss"]

    # ------------------------------------------------------------------------------------ checkpoints

    def _save(self, session: _Session, best: bool, gather: bool = True) -> None:
        """Write ``last`` (and ``best``, and ``step-XXXXXXX`` when keeping the last k); rank 0 only.

        The random streams saved are those after the last completed step, so a Ctrl-C inside a step
        resumes as if that step had not started. Every process's streams are gathered (a collective)
        so a distributed resume continues each process's noise exactly; after Ctrl-C only this
        process's are saved.
        """
        assert session.rng is not None
        rng = session.rng.to_json()
        states = [rng]
        if self.context.enabled and gather:
            states = [None] * self.context.world_size
            dist.all_gather_object(states, rng)
        progress = session.progress
        session.last_saved_step = progress.step
        if not self.context.is_main:
            return
        state = {
            **asdict(progress),
            "total_steps": session.total_steps,
            "batches_per_epoch": session.per_epoch,
            "batch_size": self.config.batch_size,
            "train_size": session.train_size,
            "world_size": self.context.world_size,
            "trainer": self.name,
            "fingerprint": self.run.fingerprint(),
            "rng": states,
        }
        optimizer_state = {
            "optimizer": session.optimizer.state_dict(),
            "lr_scheduler": session.scheduler.state_dict() if session.scheduler is not None else None,
            "grad_scaler": session.scaler.state_dict() if session.scaler is not None else None,
        }
        payload = dict(
            model_state=self.model.state_dict(),
            state=state,
            config={"name": self.name, "config": self.config.model_dump(mode="json")},
            optimizer_state=optimizer_state,
            tokenizer=self.tokenizer,
        )
        save_checkpoint(self.run.last, **payload)
        if best:
            save_checkpoint(self.run.best, **payload)
        keep = self.config.checkpoint.keep_last
        if keep > 0:
            save_checkpoint(self.run.step_checkpoint(progress.step), **payload)
            for old in self.run.step_checkpoints()[:-keep]:
                remove_checkpoint(old)

    def _saved_state(self) -> str | None:
        """Which checkpoint holds the last good state, in words (``None`` before the first one)."""
        for path in self._resume_candidates():
            try:
                state = read_state(path)
            except CheckpointError:
                continue
            return f"{path} (step {state['step']}, epoch {state['epoch']})"
        return None


def _postfix(record: dict[str, Any]) -> str:
    short = {"image_reconstruction": "img", "text_reconstruction": "txt", "image_kl": "kl_img",
             "text_kl": "kl_txt", "alignment": "align"}
    parts = [f"loss={record['loss']:.4g}"]
    parts += [f"{label}={record[name]:.4g}" for name, label in short.items() if name in record]
    parts += [f"beta={record['beta']:.3g}", f"{record['samples_per_s']:.0f} samples/s"]
    return " ".join(parts)
