"""Run files: what :func:`gradviz.watch` records, one SQLite file per run.

A run file (``*.gvrun``) is a SQLite 3 database in WAL mode. The training
process appends to it; the app (or :func:`open_run`) reads it *while it is
being written*: WAL lets one writer and any number of readers work at once.
Every recorded iteration is written in one transaction, so a training process
killed at any moment leaves a file holding every iteration it completed and
nothing of the one it was in. Tensors are stored as raw little-endian bytes
with their dtype and shape; nothing is ever pickled, so opening a run file runs
no code.

Schema, version 1 (:data:`SCHEMA_VERSION`)::

    meta(key TEXT PRIMARY KEY, value TEXT)
        format          "gradviz-run" (what makes a SQLite file a run file)
        version         schema version, an integer; readers refuse newer ones
        gradviz         version of gradviz that wrote it
        created         UTC time, ISO 8601
        level           "full" or "light"
        every           record every N-th iteration
        model           class name of the watched model
        optimizer       class name of the optimizer ("" when none)
        world_size      processes in the torch.distributed group (1 without)
    params(id INTEGER PRIMARY KEY, name TEXT UNIQUE, shape TEXT, dtype TEXT, full INTEGER)
        every parameter of the model, in named_parameters() order; shape is a
        JSON list; full = 1 when whole tensors are recorded for it
    graphs(id INTEGER PRIMARY KEY, first_iteration INTEGER, data TEXT)
        the autograd graph, stored when first seen and again only when its
        structure changes; data is JSON: {"nodes": [[key, attrs]...],
        "edges": [[producer, consumer, attrs]...], "roots": [...],
        "creation_order": [...]} with the attributes of gradviz.autograd_graph
    iterations(iteration INTEGER PRIMARY KEY, loss REAL, lrs TEXT, step_skipped INTEGER,
               graph_id INTEGER, norms BLOB, no_grad TEXT, nonfinite TEXT,
               output_shape TEXT, wall_time REAL)
        one row per recorded iteration. loss is NULL when it was NaN (then
        "loss" is in nonfinite) or not given. lrs: JSON list, the learning
        rate of each optimizer param group for this step. step_skipped: 1
        when the optimizer did not step (GradScaler found Inf/NaN), NULL
        without an optimizer. graph_id: the graph in force (NULL at the light
        level). norms: float64, shape (params, 3), row i for params.id i,
        columns gradient norm, weight norm (after the step), update norm
        (``after - before``); NaN where there is none (a parameter in
        no_grad, no step taken). no_grad, nonfinite: JSON lists of names.
    tensors(iteration INTEGER, param_id INTEGER, kind TEXT, dtype TEXT, shape TEXT, data BLOB)
        whole tensors of the parameters with full = 1 (full level only);
        kind is "before", "grad" or "after"; PRIMARY KEY(iteration, param_id, kind)
    rank_stats(iteration INTEGER, rank INTEGER, loss REAL, grad_norms BLOB)
        with ``watch(..., ranks="all")`` under torch.distributed: each rank's
        loss and float64 gradient norms (params order); PRIMARY KEY(iteration, rank)
    relu_activity(iteration INTEGER PRIMARY KEY, data TEXT)
        full level: each ReLU's dead units in that iteration's forward, JSON
        [{"key", "name", "units", "dead", "batch"}...] (key: its node in the
        stored graph); read into ``record.relu``
    nonfinite_origins(iteration INTEGER PRIMARY KEY, data TEXT)
        with ``watch(..., find_nonfinite=True)`` (the default, full level):
        where NaN/Inf started, searched once, in the first recorded iteration
        whose loss or gradients were non-finite; JSON of
        :class:`~gradviz.core.watch_nan.WatchedOrigin`

    The last two tables came after version 1's first files: a file without
    them opens, and its records have no ReLU activity and no origin.

Reading: :func:`open_run` returns a :class:`Run`; its records are
:class:`RecordedIteration` objects, which are
:class:`~gradviz.core.session.IterationRecord` objects (what the app's panels
read) with the watch-only facts added. Anything wrong with the file (missing,
not SQLite, not a run file, truncated, corrupt, written by a newer gradviz) is
a :class:`RunFileError` naming the file and what to do.
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx
import numpy as np
import torch

from gradviz.core.records import IterationRecord
from gradviz.core.vocabulary import RECORD_LEVELS

__all__ = [
    "FORMAT",
    "RUN_SUFFIX",
    "SCHEMA_VERSION",
    "TENSOR_KINDS",
    "RecordedIteration",
    "Run",
    "RunFileError",
    "RunWriter",
    "open_run",
]

FORMAT = "gradviz-run"
SCHEMA_VERSION = 1
RUN_SUFFIX = ".gvrun"
TENSOR_KINDS = ("before", "grad", "after")
NORM_COLUMNS = ("grad", "weight", "update")
# A writer waits this long for another process's transaction (ranks of one
# distributed run share the file) before giving up.
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS params(id INTEGER PRIMARY KEY, name TEXT UNIQUE, shape TEXT, dtype TEXT, full INTEGER);
CREATE TABLE IF NOT EXISTS graphs(id INTEGER PRIMARY KEY, first_iteration INTEGER, data TEXT);
CREATE TABLE IF NOT EXISTS iterations(
    iteration INTEGER PRIMARY KEY, loss REAL, lrs TEXT, step_skipped INTEGER, graph_id INTEGER,
    norms BLOB, no_grad TEXT, nonfinite TEXT, output_shape TEXT, wall_time REAL);
CREATE TABLE IF NOT EXISTS tensors(
    iteration INTEGER, param_id INTEGER, kind TEXT, dtype TEXT, shape TEXT, data BLOB,
    PRIMARY KEY(iteration, param_id, kind));
CREATE TABLE IF NOT EXISTS rank_stats(
    iteration INTEGER, rank INTEGER, loss REAL, grad_norms BLOB, PRIMARY KEY(iteration, rank));
CREATE TABLE IF NOT EXISTS relu_activity(iteration INTEGER PRIMARY KEY, data TEXT);
CREATE TABLE IF NOT EXISTS nonfinite_origins(iteration INTEGER PRIMARY KEY, data TEXT);
"""


class RunFileError(ValueError):
    """A run file cannot be read (missing, not a gradviz run file, truncated,
    corrupt, or written by a newer gradviz) or written. ``path`` names it."""

    def __init__(self, message: str, *, path: str | os.PathLike = ""):
        super().__init__(message)
        self.path = os.fspath(path)


# ---------------------------------------------------------------------------
# tensors <-> bytes (never pickle)

_DTYPES = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
    "uint8": torch.uint8, "bool": torch.bool, "complex64": torch.complex64, "complex128": torch.complex128,
}
_DTYPE_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


def dtype_name(dtype: torch.dtype) -> str:
    """The name a run file stores for ``dtype`` (``"float32"``, …)."""
    return _DTYPE_NAMES.get(dtype) or str(dtype).removeprefix("torch.")


def tensor_bytes(tensor: torch.Tensor) -> tuple[str, str, bytes]:
    """``(dtype name, JSON shape, raw bytes)`` of a CPU tensor, C order; a sparse one
    (an ``nn.Embedding(sparse=True)`` gradient) as the dense tensor it adds to ``.grad``."""
    t = tensor.detach()
    t = (t if t.layout == torch.strided else t.to_dense()).contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: store its bit pattern
        data = t.view(torch.int16).numpy().tobytes()
    else:
        data = t.numpy().tobytes()
    return dtype_name(t.dtype), json.dumps(list(t.shape)), data


def tensor_from_bytes(dtype: str, shape: str, data: bytes) -> torch.Tensor:
    torch_dtype = _DTYPES.get(dtype)
    if torch_dtype is None:
        raise ValueError(f"unknown dtype {dtype!r}")
    dims = tuple(json.loads(shape))
    if torch_dtype == torch.bfloat16:
        flat = torch.frombuffer(bytearray(data), dtype=torch.int16).view(torch.bfloat16)
    else:
        flat = torch.frombuffer(bytearray(data), dtype=torch_dtype) if data else torch.empty(0, dtype=torch_dtype)
    return flat.reshape(dims)


# ---------------------------------------------------------------------------
# graphs <-> JSON


def graph_to_json(graph: nx.DiGraph, creation_order: list[str] | None = None) -> str:
    """A detached autograd graph (plain attributes only) as the ``graphs.data`` JSON."""
    data = {
        "nodes": [[key, attrs] for key, attrs in graph.nodes(data=True)],
        "edges": [[u, v, attrs] for u, v, attrs in graph.edges(data=True)],
        "roots": list(graph.graph.get("roots", ())),
        "creation_order": list(creation_order if creation_order is not None else graph.graph.get("creation_order", ())),
    }
    return json.dumps(data, default=_plain_json)


def _plain_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return repr(value)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def graph_from_json(text: str) -> nx.DiGraph:
    data = json.loads(text)
    graph = nx.DiGraph()
    for key, attrs in data["nodes"]:
        for name in ("shape",):
            if name in attrs:
                attrs[name] = _tuples(attrs[name])
        if "saved" in attrs:
            attrs["saved"] = {k: _tuples(v) for k, v in attrs["saved"].items()}
        graph.add_node(key, **attrs)
    for u, v, attrs in data["edges"]:
        if "slots" in attrs:
            attrs["slots"] = tuple(attrs["slots"])
        graph.add_edge(u, v, **attrs)
    graph.graph["roots"] = list(data.get("roots", ()))
    graph.graph["creation_order"] = list(data.get("creation_order", ()))
    return graph


def graph_signature(graph: nx.DiGraph) -> int:
    """A hash of the graph's structure (nodes, their kind/label/name/module, edges):
    equal for the graphs of two iterations that ran the same ops."""
    nodes = tuple(
        (key, a.get("kind"), a.get("label"), a.get("name"), a.get("module"), a.get("shape"))
        for key, a in graph.nodes(data=True)
    )
    edges = tuple((u, v, a.get("slot"), a.get("input_nr")) for u, v, a in graph.edges(data=True))
    return hash((nodes, edges))


# ---------------------------------------------------------------------------
# the record


@dataclass
class RecordedIteration(IterationRecord):
    """One iteration read from a run file: an :class:`IterationRecord` (what the
    app's history, gradient and norm panels read) plus what only a watched
    training loop records.

    Filled from the file: ``index``, ``lr`` (of the first param group),
    ``optimizer_name``, ``record_level``, ``loss``, ``grad_norms``, ``no_grad``,
    ``nonfinite``, ``output_shape``, and at the full level ``graph``,
    ``creation_order`` and ``params_before``/``grads``/``params_after`` of the
    recorded parameters. ``loss_name`` is ``""`` (the loss is the user's
    code). ``node_grad_norms`` and ``backward_order`` stay empty: the user's
    own ``backward()`` is not traced. ``complete`` is True.

    Added:
        lrs: learning rate of each optimizer param group for this step.
        weight_norms: parameter name -> L2 norm of the weights after the step.
        update_norms: parameter name -> L2 norm of ``after - before`` (absent
            when no step was taken).
        step_skipped: True when the optimizer did not step (GradScaler found
            Inf/NaN gradients); None without an optimizer.
        wall_time: Unix time the iteration was recorded.
        rank_losses, rank_grad_norms: rank -> loss / {name: gradient norm},
            when each rank of a distributed run recorded its own.
        nonfinite_origin: where NaN/Inf started
            (:class:`~gradviz.core.watch_nan.WatchedOrigin`), on the one
            iteration the watcher searched; None on every other.

    ``relu`` (an :class:`IterationRecord` field) is filled from the file at the
    full level, so ``record.diagnostics`` shows dead ReLU units.
    """

    lrs: list[float] = field(default_factory=list)
    weight_norms: dict[str, float] = field(default_factory=dict)
    update_norms: dict[str, float] = field(default_factory=dict)
    step_skipped: bool | None = None
    wall_time: float | None = None
    rank_losses: dict[int, float | None] = field(default_factory=dict)
    rank_grad_norms: dict[int, dict[str, float]] = field(default_factory=dict)
    nonfinite_origin: Any = None

    @property
    def update_ratios(self) -> dict[str, float]:
        """Parameter name -> ``‖after − before‖ / ‖after‖`` (inf for a zero
        weight that moved, 0 for one that did not)."""
        ratios = {}
        for name, update in self.update_norms.items():
            weight = self.weight_norms.get(name)
            if weight is None:
                continue
            ratios[name] = update / weight if weight else (0.0 if update == 0 else math.inf)
        return ratios


# ---------------------------------------------------------------------------
# writing


def _connect(path: str, *, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    # isolation_level=None: transactions are opened explicitly (BEGIN ... COMMIT),
    # one per iteration, which is what makes a killed writer leave whole iterations.
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    return conn


class RunWriter:
    """Appends to a run file. Used by :mod:`gradviz.core.watch`; one per process.

    ``create`` makes a fresh file (``overwrite`` replaces an existing one);
    ``join`` opens one another rank created (it only writes ``rank_stats``).
    Every failure is a :class:`RunFileError` or ``sqlite3.Error``: the recorder
    decides what a failure means for the training (it warns and stops).
    """

    def __init__(self, conn: sqlite3.Connection, path: str):
        self._conn = conn
        self.path = path

    @classmethod
    def create(cls, path: str | os.PathLike, meta: dict[str, Any], params: list[tuple[str, tuple, str, bool]],
               *, overwrite: bool = False) -> "RunWriter":
        path = os.fspath(path)
        if os.path.exists(path):
            if not overwrite:
                raise RunFileError(f"{path} already exists; choose another path or pass overwrite=True", path=path)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        try:
            conn = _connect(path)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a killed process loses nothing it committed;
            # only a power cut can lose the last few commits (never corrupts).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    conn.execute(statement)
            meta = {"format": FORMAT, "version": str(SCHEMA_VERSION), **{k: str(v) for k, v in meta.items()}}
            conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", meta.items())
            conn.executemany(
                "INSERT INTO params(id, name, shape, dtype, full) VALUES (?, ?, ?, ?, ?)",
                [(i, name, json.dumps(list(shape)), dtype, int(full)) for i, (name, shape, dtype, full) in enumerate(params)],
            )
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            raise RunFileError(f"cannot create the run file {path}: {exc}", path=path) from exc
        return cls(conn, path)

    @classmethod
    def join(cls, path: str | os.PathLike) -> "RunWriter":
        path = os.fspath(path)
        try:
            conn = _connect(path)
            conn.execute("PRAGMA synchronous=NORMAL")
            _check_meta(conn, path)
        except sqlite3.Error as exc:
            raise RunFileError(f"cannot open the run file {path} to add this rank's records: {exc}", path=path) from exc
        return cls(conn, path)

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        """The one place writes go through (so a failing disk shows up in one spot)."""
        return self._conn.execute(sql, parameters)

    def write_iteration(self, row: dict[str, Any], tensors: list[tuple[int, str, torch.Tensor]],
                        graph: tuple[int, int, str] | None = None,
                        rank_stats: tuple[int, float | None, np.ndarray] | None = None, *,
                        relu: str | None = None, origin: str | None = None) -> None:
        """One iteration in one transaction: the row, its tensors, (when the
        structure changed) the new graph ``(graph id, first iteration, JSON)``,
        (``ranks="all"``) this rank's ``(rank, loss, gradient norms)``, and the
        JSON of its ReLU activity and of where NaN/Inf started, when known."""
        self.execute("BEGIN IMMEDIATE")
        try:
            if relu is not None:
                self.execute("INSERT INTO relu_activity(iteration, data) VALUES (?, ?)", (row["iteration"], relu))
            if origin is not None:
                self.execute("INSERT INTO nonfinite_origins(iteration, data) VALUES (?, ?)", (row["iteration"], origin))
            if rank_stats is not None:
                rank, loss, grad_norms = rank_stats
                self.execute(
                    "INSERT INTO rank_stats(iteration, rank, loss, grad_norms) VALUES (?, ?, ?, ?)",
                    (row["iteration"], rank, loss, np.asarray(grad_norms, dtype="<f8").tobytes()),
                )
            if graph is not None:
                self.execute("INSERT INTO graphs(id, first_iteration, data) VALUES (?, ?, ?)", graph)
            for param_id, kind, tensor in tensors:
                dtype, shape, data = tensor_bytes(tensor)
                self.execute(
                    "INSERT INTO tensors(iteration, param_id, kind, dtype, shape, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (row["iteration"], param_id, kind, dtype, shape, data),
                )
            columns = ", ".join(row)
            self.execute(f"INSERT INTO iterations({columns}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
            self.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def write_rank_stats(self, iteration: int, rank: int, loss: float | None, grad_norms: np.ndarray) -> None:
        self.execute("BEGIN IMMEDIATE")
        try:
            self.execute(
                "INSERT INTO rank_stats(iteration, rank, loss, grad_norms) VALUES (?, ?, ?, ?)",
                (iteration, rank, loss, grad_norms.astype("<f8").tobytes()),
            )
            self.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction left to roll back (the failed statement ended it)

    def close(self, *, finalize: bool = False) -> None:
        """Close the connection. ``finalize`` (the process that created the
        file, at the end of the run): leave WAL mode when no one else has the
        file open, so the finished run is one self-contained file."""
        try:
            if finalize:
                try:
                    # Never wait for a reader (the app may be watching): then the file just stays in WAL mode.
                    self._conn.execute("PRAGMA busy_timeout=0")
                    self._conn.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.Error:
                    pass
            self._conn.close()
        except sqlite3.Error:
            pass


# ---------------------------------------------------------------------------
# reading


def _check_meta(conn: sqlite3.Connection, path: str) -> dict[str, str]:
    try:
        rows = conn.execute("SELECT key, value FROM meta").fetchall()
    except sqlite3.OperationalError:
        raise RunFileError(f"{path} is not a gradviz run file (no meta table); record one with gradviz.watch", path=path) from None
    meta = dict(rows)
    if meta.get("format") != FORMAT:
        raise RunFileError(f"{path} is not a gradviz run file (format {meta.get('format')!r}); record one with gradviz.watch", path=path)
    try:
        version = int(meta.get("version", ""))
    except ValueError:
        raise RunFileError(f"{path}: unreadable schema version {meta.get('version')!r}", path=path) from None
    if version > SCHEMA_VERSION:
        raise RunFileError(
            f"{path} was written by a newer gradviz (run file version {version}; this gradviz reads up to "
            f"{SCHEMA_VERSION}): upgrade gradviz to open it", path=path)
    # Checked here, once: read later, a damaged value raised a bare ValueError from the
    # first property that used it, or was shown as it was (level 'weird', every 0).
    every = meta.get("every", "1")
    if not (isinstance(every, str) and every.isdigit() and int(every) >= 1):
        raise RunFileError(f"{path} is damaged: its recording interval 'every' is {every!r}, not a whole number ≥ 1",
                           path=path)
    if meta.get("level", "full") not in RECORD_LEVELS:
        raise RunFileError(f"{path} is damaged: its record level is {meta.get('level')!r}, not one of "
                           f"{', '.join(RECORD_LEVELS)}", path=path)
    return meta


class Run:
    """A run file opened for reading (:func:`open_run`); safe while a writer appends.

    ``len(run)`` and :meth:`indices` cover the iterations committed when the
    run was opened or last refreshed; :meth:`refresh` picks up new ones and
    returns their records. Records are read lazily and cached; graphs are
    shared between records with the same structure (treat them as read-only).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise RunFileError(f"{self.path}: no such run file", path=self.path)
        try:
            # Read-only: the reader can never damage the file the training writes.
            self._conn = sqlite3.connect(f"file:{_uri_path(self.path)}?mode=ro", uri=True, check_same_thread=False,
                                         timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise RunFileError(f"cannot open {self.path}: {exc}", path=self.path) from exc
        try:
            with self._reading():
                self.meta = _check_meta(self._conn, self.path)
                self._check_not_truncated()
                rows = self._conn.execute("SELECT id, name, shape, dtype, full FROM params ORDER BY id").fetchall()
                self.param_names: list[str] = [name for _, name, *_ in rows]
                self.param_shapes: dict[str, tuple] = {name: tuple(json.loads(shape)) for _, name, shape, *_ in rows}
                self.recorded_params: list[str] = [name for _, name, _, _, full in rows if full]
                self._indices: list[int] = []
                self._records: dict[int, RecordedIteration] = {}
                self._graphs: dict[int, nx.DiGraph] = {}
                self._last_seen = -1
                # Files written before relu_activity / nonfinite_origins existed lack them.
                self._tables = {name for (name,) in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                self._load_indices()
        except BaseException:
            self._conn.close()
            raise

    # -- facts ------------------------------------------------------------------
    @property
    def level(self) -> str:
        return self.meta.get("level", "")

    @property
    def every(self) -> int:
        return int(self.meta.get("every", "1"))

    @property
    def version(self) -> int:
        return int(self.meta["version"])

    def __len__(self) -> int:
        return len(self._indices)

    def indices(self) -> list[int]:
        """Iteration numbers recorded (as of the last refresh), ascending."""
        return list(self._indices)

    def losses(self) -> list[tuple[int, float | None]]:
        """``(iteration, loss)`` for every recorded iteration, read in one query
        (cheap: no tensors): the loss curve."""
        with self._reading():  # (a damaged value is a RunFileError too: decoded inside)
            rows = self._conn.execute(
                "SELECT iteration, loss, nonfinite FROM iterations WHERE iteration <= ? ORDER BY iteration",
                (self._last_seen,),
            ).fetchall()
            return [(i, _loss_value(loss, nonfinite)) for i, loss, nonfinite in rows]

    def flags(self) -> list[tuple[int, list[str], bool | None]]:
        """``(iteration, nonfinite names, step_skipped)`` for every recorded
        iteration, in one query (no tensors): where NaN/Inf appeared and which
        steps GradScaler skipped."""
        with self._reading():
            rows = self._conn.execute(
                "SELECT iteration, nonfinite, step_skipped FROM iterations WHERE iteration <= ? ORDER BY iteration",
                (self._last_seen,),
            ).fetchall()
            return [(i, json.loads(flags), None if skipped is None else bool(skipped)) for i, flags, skipped in rows]

    def nonfinite_origin(self):
        """Where NaN/Inf started in this run (:class:`~gradviz.core.watch_nan.WatchedOrigin`,
        its ``iteration`` says when), or None: the losses and gradients stayed
        finite, the search was off, or the file predates it."""
        if "nonfinite_origins" not in self._tables:
            return None
        from gradviz.core.watch_nan import WatchedOrigin

        with self._reading():
            row = self._conn.execute(
                "SELECT iteration, data FROM nonfinite_origins WHERE iteration <= ? ORDER BY iteration LIMIT 1",
                (self._last_seen,),
            ).fetchone()
            return None if row is None else WatchedOrigin.from_json(row[1])

    def graph_count(self) -> int:
        """How many graph structures the run went through (0 at the light level)."""
        with self._reading():
            return self._conn.execute("SELECT COUNT(*) FROM graphs").fetchone()[0]

    def ranks(self) -> list[int]:
        """Ranks that wrote their own loss and gradient norms (``ranks="all"``); [] otherwise."""
        with self._reading():
            return [r for (r,) in self._conn.execute("SELECT DISTINCT rank FROM rank_stats ORDER BY rank")]

    # -- records ----------------------------------------------------------------
    def record(self, iteration: int) -> RecordedIteration:
        """The record of one recorded iteration (KeyError if it was not recorded)."""
        cached = self._records.get(iteration)
        if cached is not None:
            return cached
        with self._reading():
            record = self._read_record(iteration)
        self._records[iteration] = record
        return record

    def records(self) -> list[RecordedIteration]:
        """Every recorded iteration's record, oldest first (as of the last refresh)."""
        return [self.record(i) for i in self._indices]

    def __iter__(self) -> Iterator[RecordedIteration]:
        return iter(self.records())

    def __getitem__(self, position: int) -> RecordedIteration:
        """By position among the recorded iterations (``run[-1]``: the newest)."""
        return self.record(self._indices[position])

    def refresh(self) -> list[RecordedIteration]:
        """Pick up iterations committed since the last call (or since opening)
        and return their records, oldest first; ``[]`` when there are none.
        Cheap when nothing is new: one indexed query."""
        before = len(self._indices)
        with self._reading():
            self._load_indices()
        return [self.record(i) for i in self._indices[before:]]

    def poll(self) -> list[int]:
        """Like :meth:`refresh`, but return only the numbers of the iterations
        committed since the last look and read none of their records (one
        indexed query): for readers that keep few records, such as the app's
        run viewer, which must not load every new iteration's tensors."""
        before = len(self._indices)
        with self._reading():
            self._load_indices()
        return self._indices[before:]

    def read(self, iteration: int, *, tensors: bool = True) -> RecordedIteration:
        """The record of one recorded iteration, read now and not cached (unlike
        :meth:`record`, so a long run is not kept in memory). ``tensors=False``
        leaves out the whole weights, gradients and weights-after: loss, norms,
        learning rates, flags and graph only, cheap whatever the model's size."""
        cached = self._records.get(iteration)
        if cached is not None:
            return cached
        with self._reading():
            return self._read_record(iteration, tensors=tensors)

    def iterations_since(self, iteration: int) -> list[RecordedIteration]:
        """Records of recorded iterations after ``iteration`` (refreshing first)."""
        self.refresh()
        return [self.record(i) for i in self._indices if i > iteration]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Run({self.path!r}, {len(self)} iterations, level={self.level!r})"

    # -- internals --------------------------------------------------------------
    def _reading(self):
        return _Reading(self.path)

    def _check_not_truncated(self) -> None:
        # With no WAL the main file holds every page: a shorter file was cut off.
        if os.path.exists(self.path + "-wal") and os.path.getsize(self.path + "-wal") > 0:
            return
        page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        page_count = self._conn.execute("PRAGMA page_count").fetchone()[0]
        if os.path.getsize(self.path) < page_size * page_count:
            raise RunFileError(f"{self.path} is truncated (shorter than its own page count says); "
                               "copy the whole file again", path=self.path)

    def _load_indices(self) -> None:
        rows = self._conn.execute(
            "SELECT iteration FROM iterations WHERE iteration > ? ORDER BY iteration", (self._last_seen,)
        ).fetchall()
        self._indices.extend(i for (i,) in rows)
        if self._indices:
            self._last_seen = self._indices[-1]

    def _graph(self, graph_id: int | None) -> nx.DiGraph | None:
        if graph_id is None:
            return None
        graph = self._graphs.get(graph_id)
        if graph is None:
            row = self._conn.execute("SELECT data FROM graphs WHERE id = ?", (graph_id,)).fetchone()
            if row is None:
                raise RunFileError(f"{self.path}: iteration refers to graph {graph_id}, which is missing", path=self.path)
            graph = self._graphs[graph_id] = graph_from_json(row[0])
        return graph

    def _read_record(self, iteration: int, *, tensors: bool = True) -> RecordedIteration:
        row = self._conn.execute(
            "SELECT loss, lrs, step_skipped, graph_id, norms, no_grad, nonfinite, output_shape, wall_time "
            "FROM iterations WHERE iteration = ?", (iteration,),
        ).fetchone()
        if row is None:
            raise KeyError(f"iteration {iteration} is not in {self.path}")
        loss, lrs, skipped, graph_id, norms_blob, no_grad, nonfinite, output_shape, wall_time = row
        names = self.param_names
        norms = np.frombuffer(norms_blob, dtype="<f8").reshape(len(names), len(NORM_COLUMNS))
        no_grad = json.loads(no_grad)
        nonfinite = json.loads(nonfinite)
        lrs = json.loads(lrs)
        skip_no_grad = set(no_grad)
        grad_norms = {n: float(norms[i, 0]) for i, n in enumerate(names) if n not in skip_no_grad}
        weight_norms = {n: float(norms[i, 1]) for i, n in enumerate(names)}
        step_skipped = None if skipped is None else bool(skipped)
        update_norms = {}
        if step_skipped is False:
            update_norms = {n: float(norms[i, 2]) for i, n in enumerate(names)}
        graph = self._graph(graph_id)
        record = RecordedIteration(
            index=iteration,
            lr=lrs[0] if lrs else math.nan,
            loss_name="",
            optimizer_name=self.meta.get("optimizer", ""),
            record_level=self.level,
            output_shape=tuple(json.loads(output_shape)) if output_shape else None,
            loss=_loss_value(loss, nonfinite),
            grad_norms=grad_norms,
            no_grad=no_grad,
            graph=graph,
            creation_order=list(graph.graph.get("creation_order", ())) if graph is not None else [],
            nonfinite=nonfinite,
            complete=True,
            lrs=lrs,
            weight_norms=weight_norms,
            update_norms=update_norms,
            step_skipped=step_skipped,
            wall_time=wall_time,
        )
        by_kind = {"before": record.params_before, "grad": record.grads, "after": record.params_after}
        rows = self._conn.execute(
            "SELECT param_id, kind, dtype, shape, data FROM tensors WHERE iteration = ? ORDER BY param_id", (iteration,)
        ) if tensors else ()
        for param_id, kind, dtype, shape, data in rows:
            try:
                by_kind[kind][names[param_id]] = tensor_from_bytes(dtype, shape, data)
            except (KeyError, IndexError, ValueError, RuntimeError) as exc:
                raise RunFileError(f"{self.path}: iteration {iteration} holds an unreadable tensor: {exc}",
                                   path=self.path) from None
        for rank, rank_loss, blob in self._conn.execute(
            "SELECT rank, loss, grad_norms FROM rank_stats WHERE iteration = ? ORDER BY rank", (iteration,)
        ):
            record.rank_losses[rank] = rank_loss
            values = np.frombuffer(blob, dtype="<f8")
            record.rank_grad_norms[rank] = {n: float(v) for n, v in zip(names, values) if not math.isnan(v)}
        if "relu_activity" in self._tables:
            row = self._conn.execute("SELECT data FROM relu_activity WHERE iteration = ?", (iteration,)).fetchone()
            if row is not None:
                from gradviz.core.diagnostics import ReluActivity

                try:
                    record.relu = [ReluActivity(str(r["key"]), str(r["name"]), int(r["units"]), int(r["dead"]),
                                                int(r["batch"])) for r in json.loads(row[0])]
                except (KeyError, TypeError) as exc:
                    raise ValueError(f"iteration {iteration} holds unreadable ReLU activity ({exc})") from None
        if "nonfinite_origins" in self._tables:
            row = self._conn.execute("SELECT data FROM nonfinite_origins WHERE iteration = ?", (iteration,)).fetchone()
            if row is not None:
                from gradviz.core.watch_nan import WatchedOrigin

                record.nonfinite_origin = WatchedOrigin.from_json(row[0])
        return record


class _Reading:
    """Turns SQLite's errors while reading into :class:`RunFileError`."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, sqlite3.DatabaseError):
            text = str(exc)
            if "not a database" in text:
                message = f"{self.path} is not a gradviz run file (not a SQLite database)"
            elif "malformed" in text or "corrupt" in text:
                message = f"{self.path} is corrupt or truncated ({text})"
            else:
                message = f"cannot read {self.path}: {text}"
            raise RunFileError(message, path=self.path) from exc
        if exc_type is not None and issubclass(exc_type, (ValueError, TypeError)) and not issubclass(exc_type, RunFileError):
            raise RunFileError(f"{self.path} holds unreadable data: {exc}", path=self.path) from exc
        return False


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path))


def _loss_value(loss: float | None, nonfinite: str | list) -> float | None:
    if loss is not None:
        return float(loss)
    flags = json.loads(nonfinite) if isinstance(nonfinite, str) else nonfinite
    return math.nan if "loss" in flags else None  # SQLite stores NaN as NULL


def open_run(path: str | os.PathLike) -> Run:
    """Open a run file written by :func:`gradviz.watch` for reading.

    Works while the training process is still writing it: call
    :meth:`Run.refresh` to pick up new iterations. Raises :class:`RunFileError`
    for a missing, non-run, truncated, corrupt or future-version file.
    """
    return Run(path)
