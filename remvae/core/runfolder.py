"""The run folder: every path of a run, its atomic writes, its config fingerprint and its writer lock.

No other module spells a run path; scripts, the CLI, :func:`remvae.load`, the report and the
benchmarks all go through :class:`RunFolder`::

    <run>/args.json  config.json (resolved, with its fingerprint)  model.json  environment.json
    <run>/checkpoints/{last,best,step-XXXXXXX}/    <run>/metrics/{train.jsonl,validation.jsonl,
    train_summary.json,eval.json}    <run>/figures/{*.png,figures.json}    <run>/report.pdf
    <run>/logs/<stage>.log    <run>/priors/<name>/    <run>/previous/<moved-aside runs>/

Writes go to a temporary sibling and are renamed over the target, so a reader never sees half a
file and a kill never leaves one; a failed write (read-only folder, full disk, no permission) raises
:class:`StorageError`, one line naming the path and the cause.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

LOCK_ENV = "REMVAE_RUN_LOCK"
"""Set by the process holding a run's lock for the stages it starts, which may then write the run."""


class RunFolderError(ValueError):
    """A run folder that lacks what is asked of it, or whose files disagree; the message names the file."""


class StorageError(OSError):
    """A file system failure (read-only, disk full, permission) while writing a run; one line naming the path."""


class RunLockedError(RunFolderError):
    """Another live process is writing this run folder."""


def describe_os_error(error: OSError) -> str:
    """The cause of ``error`` in words (``disk full``, ``read-only file system``, ...)."""
    causes = {
        errno.ENOSPC: "no space left on the device (disk full)",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EDQUOT: "disk quota exceeded",
    }
    return causes.get(error.errno or 0, error.strerror or str(error))


def write_bytes(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Replace ``path`` with ``data`` atomically (a temporary sibling, fsynced, renamed over it)."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        tmp = None
    except OSError as error:
        raise StorageError(error.errno, f"{path}: cannot write ({describe_os_error(error)})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented strict JSON (no NaN) atomically."""
    return write_bytes(path, (json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8"))


def read_json(path: str | Path, what: str = "file") -> Any:
    """Parse a JSON file; :class:`RunFolderError` naming it when missing or unreadable."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{path}: not found ({what})") from None
    except (ValueError, RecursionError) as error:  # JSON and UTF-8 decoding errors are ValueErrors
        raise RunFolderError(f"{path}: not valid JSON, the {what} is damaged ({' '.join(str(error).split())[:160]})") \
            from None
    except OSError as error:
        raise RunFolderError(f"{path}: cannot be read ({describe_os_error(error)})") from None


class RunFolder:
    """The paths of one run folder (by default the experiment's own folder)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    def __fspath__(self) -> str:
        return str(self.root)

    # Files at the top.

    @property
    def args(self) -> Path:
        return self.root / "args.json"

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def model_spec(self) -> Path:
        return self.root / "model.json"

    @property
    def environment(self) -> Path:
        return self.root / "environment.json"

    @property
    def generated_manifest(self) -> Path:
        return self.root / ".remvae-generated.json"

    @property
    def lock_file(self) -> Path:
        return self.root / ".remvae.lock"

    def script(self, name: str) -> Path:
        """A generated file (``train.py``, ``execute.sh``, ...)."""
        return self.root / name

    # Checkpoints.

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, name: str) -> Path:
        """``last``, ``best``, ``step-XXXXXXX``; an absolute path is taken as it is."""
        path = Path(name)
        return path if path.is_absolute() else self.checkpoints / name

    @property
    def last(self) -> Path:
        return self.checkpoints / "last"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best"

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:07d}"

    def step_checkpoints(self) -> list[Path]:
        """The kept ``step-XXXXXXX`` checkpoints, oldest first."""
        return sorted(p for p in self.checkpoints.glob("step-*") if p.is_dir())

    # Metrics, figures, report, logs, priors.

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def train_log(self) -> Path:
        return self.metrics / "train.jsonl"

    @property
    def validation_log(self) -> Path:
        return self.metrics / "validation.jsonl"

    @property
    def train_summary(self) -> Path:
        return self.metrics / "train_summary.json"

    @property
    def evaluation(self) -> Path:
        return self.metrics / "eval.json"

    @property
    def evaluation_items(self) -> Path:
        """Per-item scores of the evaluation (safetensors), for paired tests between runs."""
        return self.metrics / "eval_items.safetensors"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    def figure(self, name: str) -> Path:
        return self.figures / f"{name}.png"

    @property
    def figure_manifest(self) -> Path:
        return self.figures / "figures.json"

    @property
    def report(self) -> Path:
        return self.root / "report.pdf"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, stage: str) -> Path:
        return self.logs / f"{stage}.log"

    @property
    def tensorboard(self) -> Path:
        return self.logs / "tensorboard"

    @property
    def mlflow_store(self) -> Path:
        """The default MLflow file store of the run."""
        return self.root / "mlruns"

    @property
    def mlflow_run_record(self) -> Path:
        """The MLflow run id of the run, so a resumed run continues it."""
        return self.logs / "mlflow_run.json"

    @property
    def priors(self) -> Path:
        return self.root / "priors"

    def prior(self, name: str) -> Path:
        return self.priors / name

    @property
    def seeds(self) -> Path:
        """Where the runs of an experiment repeated over seeds live, one folder each."""
        return self.root / "seeds"

    def seed_run(self, seed: int) -> RunFolder:
        return RunFolder(self.seeds / f"seed-{seed}")

    def seed_runs(self) -> list[RunFolder]:
        """The seed runs under this folder, by seed."""
        found = [p for p in self.seeds.glob("seed-*") if p.is_dir() and p.name[5:].isdigit()]
        return [RunFolder(p) for p in sorted(found, key=lambda p: int(p.name[5:]))]

    @property
    def previous(self) -> Path:
        """Where ``--fresh`` moves an earlier run's outputs (never deleted)."""
        return self.root / "previous"

    OUTPUTS = ("config.json", "model.json", "environment.json", "checkpoints", "metrics", "figures", "report.pdf",
               "logs", "priors", "mlruns")
    """What a run writes (and ``--fresh`` moves aside); args.json and the scripts stay."""

    # Reading.

    def read_json(self, path: Path, what: str = "file") -> Any:
        return read_json(path, what)

    def recorded_config(self) -> dict[str, Any] | None:
        """``config.json`` when present (the resolved config the run was prepared with), else ``None``."""
        if not self.config.is_file():
            return None
        data = read_json(self.config, "resolved config")
        if not isinstance(data, dict):
            raise RunFolderError(f"{self.config}: not a JSON object")
        return data

    def fingerprint(self) -> str | None:
        """The fingerprint recorded in ``config.json`` (``None`` for a new run or one made before fingerprints)."""
        config = self.recorded_config()
        value = config.get("fingerprint") if config else None
        return value if isinstance(value, str) else None

    def has_outputs(self) -> bool:
        """Whether a run was trained or prepared here (anything :attr:`OUTPUTS` names exists)."""
        return any((self.root / name).exists() for name in self.OUTPUTS)

    # Writing.

    def write_json(self, path: Path, data: Any) -> Path:
        return write_json(path, data)

    def write_bytes(self, path: Path, data: bytes, mode: int = 0o644) -> Path:
        return write_bytes(path, data, mode)

    def move_aside(self) -> Path | None:
        """Move every output of the current run into ``previous/<time>/`` (``--fresh``); ``None`` if none."""
        present = [name for name in self.OUTPUTS if (self.root / name).exists()]
        if not present:
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = self.previous / f"{stamp}-{uuid.uuid4().hex[:6]}"
        try:
            target.mkdir(parents=True)
            for name in present:
                os.replace(self.root / name, target / name)
        except OSError as error:
            raise StorageError(error.errno, f"{target}: cannot move the earlier run aside "
                               f"({describe_os_error(error)})") from None
        return target

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete the temporary files and folders writers leave when killed (only call while holding the lock)."""
        removed = []
        for folder in (self.root, self.metrics, self.figures, self.checkpoints):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.name.startswith(".") and (path.name.endswith(".tmp") or path.name.startswith(".tmp-")):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    removed.append(path)
        return removed

    @contextmanager
    def lock(self, command: str, on_takeover: Any = None) -> Iterator[None]:
        """Hold the run's writer lock while the block runs (:class:`RunLockedError` if a live process holds it).

        A process started by the holder (``$REMVAE_RUN_LOCK`` equals the lock's token) shares it. A lock
        left by a dead process on this host is taken over; ``on_takeover(message)`` is told.
        """
        held = _read_lock(self.lock_file)
        if held is not None and held.get("token") == os.environ.get(LOCK_ENV):
            self._share(held, os.getpid(), joining=True)
            try:
                yield
            finally:
                current = _read_lock(self.lock_file)
                if current is not None and current.get("token") == held.get("token"):
                    self._share(current, os.getpid(), joining=False)
            return
        token = uuid.uuid4().hex
        record = {"pid": os.getpid(), "host": socket.gethostname(), "token": token, "command": command,
                  "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self._acquire(record, on_takeover)
        previous = os.environ.get(LOCK_ENV)
        os.environ[LOCK_ENV] = token
        try:
            self.remove_stale_temporaries()
            yield
        finally:
            if previous is None:
                os.environ.pop(LOCK_ENV, None)
            else:
                os.environ[LOCK_ENV] = previous
            if (_read_lock(self.lock_file) or {}).get("token") == token:
                self.lock_file.unlink(missing_ok=True)

    def _share(self, held: dict[str, Any], pid: int, joining: bool) -> None:
        """Record (or forget) a process started by the holder that writes under its lock, so the lock stays alive
        while that process runs even if the holder was killed."""
        sharing = [p for p in held.get("sharing", []) if p != pid] + ([pid] if joining else [])
        write_json(self.lock_file, {**held, "sharing": sharing})

    def _acquire(self, record: dict[str, Any], on_takeover: Any) -> None:
        data = (json.dumps(record) + "\n").encode("utf-8")
        for _ in range(3):
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.lock_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = _read_lock(self.lock_file)
                if held is None:  # written half by a killed process, or removed meanwhile
                    _remove_if_old(self.lock_file)
                    continue
                if _alive(held):
                    sharing = ", ".join(map(str, held.get("sharing", [])))
                    raise RunLockedError(
                        f"{self.root}: in use by {held.get('command', 'remvae')} (pid {held.get('pid')}"
                        f"{f' and its stage pid {sharing}' if sharing else ''} on {held.get('host')} since "
                        f"{held.get('since')}); wait for it to finish or stop it"
                    ) from None
                if on_takeover is not None:
                    on_takeover(f"{self.lock_file}: taking over the lock of pid {held.get('pid')} on "
                                f"{held.get('host')}, which is no longer running")
                self.lock_file.unlink(missing_ok=True)
                continue
            except OSError as error:
                raise StorageError(error.errno, f"{self.lock_file}: cannot write ({describe_os_error(error)})") from None
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return
        raise RunLockedError(f"{self.lock_file}: could not take the lock (another process keeps taking it)")


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _remove_if_old(path: Path, seconds: float = 5.0) -> None:
    """Remove an unreadable lock file once it is old enough not to be one being written right now."""
    try:
        if time.time() - path.stat().st_mtime > seconds:
            path.unlink(missing_ok=True)
        else:
            time.sleep(0.2)
    except OSError:
        pass


def _alive(held: dict[str, Any]) -> bool:
    """Whether the lock's holder, or a process writing under it, may still be running (always assumed for another
    host's processes)."""
    if held.get("host") != socket.gethostname():
        return True
    pids = [held.get("pid"), *held.get("sharing", [])]
    return any(_running(pid) for pid in pids if isinstance(pid, int) and pid > 0)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _is_not_zombie(pid)


def _is_not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


__all__ = [
    "LOCK_ENV",
    "RunFolder",
    "RunFolderError",
    "RunLockedError",
    "StorageError",
    "describe_os_error",
    "read_json",
    "write_bytes",
    "write_json",
]
